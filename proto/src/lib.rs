//! The `livechat.v1` protobuf API: generated messages, tonic clients and
//! servers, and the encoded descriptor set for server reflection.
//!
//! The .proto files under `proto/livechat/v1` are the source of truth and are
//! commented as the public API they are.

#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod v1 {
    tonic::include_proto!("livechat.v1");
}

/// The encoded `FileDescriptorSet` of every livechat.v1 file, for
/// `tonic-reflection`.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/livechat_descriptor.bin"));
