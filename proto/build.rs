//! Compiles proto/livechat/v1 with protox (pure Rust) so that a fresh clone
//! builds with cargo alone: no protoc on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "livechat/v1/common.proto",
        "livechat/v1/auth.proto",
        "livechat/v1/rooms.proto",
        "livechat/v1/messages.proto",
        "livechat/v1/canned.proto",
        "livechat/v1/admin.proto",
        "livechat/v1/events.proto",
        "livechat/v1/team.proto",
        "livechat/v1/webhooks.proto",
        "livechat/v1/bus.proto",
    ];
    let fds = protox::compile(files, ["."])?;

    // Reflection serves this descriptor set.
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("livechat_descriptor.bin"), prost::Message::encode_to_vec(&fds))?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Small stream buffers: see src/codec.rs.
        .codec_path("crate::codec::CompactCodec")
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed=livechat");
    Ok(())
}
