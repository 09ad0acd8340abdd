//! Rebuild when the built frontend changes: release builds embed `dist/` into the binary.
fn main() {
    println!("cargo:rerun-if-changed=../dist");
}
