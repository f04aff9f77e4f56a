//! Compiles every `.proto` file in `proto/paddock/v1/` with protox (pure Rust: no `protoc` needed)
//! and generates prost messages plus tonic clients and servers with tonic-prost-build.
//! Also writes the encoded file descriptor set (with source comments) for gRPC reflection.

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

use prost::Message;

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    let package_dir = proto_root.join("paddock/v1");
    println!("cargo:rerun-if-changed={}", package_dir.display());

    let files = proto_files(&package_dir)?;
    if files.is_empty() {
        return Err(format!("no .proto files in {}", package_dir.display()).into());
    }
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }

    let fds = protox::compile(&files, [&proto_root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    fs::write(out_dir.join("paddock_descriptor.bin"), fds.encode_to_vec())?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // `bytes` fields become `bytes::Bytes`: znode data moves into the server without a copy.
        .bytes(".")
        .compile_fds(fds)?;
    Ok(())
}

/// Every `*.proto` directly in `dir`, sorted so the build is deterministic.
fn proto_files(dir: &Path) -> Result<Vec<PathBuf>, Box<dyn Error>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "proto") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
