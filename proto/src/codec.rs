//! The protobuf codec of every livechat.v1 service: tonic-prost's, with
//! small starting buffers.
//!
//! tonic gives each stream an 8 KiB encode buffer on the sending side and an
//! 8 KiB decode buffer on the receiving side. A gateway holds one `Subscribe`
//! stream per WebSocket, and almost every event is a few hundred bytes, so
//! those buffers were most of the memory of an idle connection. Buffers
//! still grow for the occasional large message (a history page).

use std::marker::PhantomData;

use tonic::codec::{BufferSettings, Codec};
use tonic_prost::{ProstDecoder, ProstEncoder};

/// Starting size of a stream's encode or decode buffer.
pub const BUFFER_BYTES: usize = 1024;
/// Encoded bytes a stream may batch before yielding them (tonic's default).
pub const YIELD_THRESHOLD: usize = 32 * 1024;

/// Used by the generated clients and servers (see build.rs).
#[derive(Debug)]
pub struct CompactCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for CompactCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

fn settings() -> BufferSettings {
    BufferSettings::new(BUFFER_BYTES, YIELD_THRESHOLD)
}

impl<T, U> Codec for CompactCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder::new(settings())
    }
}
