//! The `livechat.v1` API: generated protobuf messages, tonic clients and
//! servers, the encoded descriptor set for server reflection, and the JSON
//! shapes of docs/protocol.md that the gateways build from them.
//!
//! The .proto files under `proto/livechat/v1` are the source of truth and are
//! commented as the public API they are.

pub mod bus;
pub mod client;
pub mod codec;
pub mod error;
pub mod feed;
pub mod json;
pub mod origin;
pub mod replicas;

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    tonic::include_proto!("livechat.v1");
}

pub use error::{ErrorCode, Failure};

/// The encoded `FileDescriptorSet` of every livechat.v1 file, for
/// `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/livechat_descriptor.bin"));
