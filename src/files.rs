//! The one way antlab reads a file the user named: scenarios, topologies, manifests,
//! `what-if` inputs, `get featuregates -f`, `real up`, kind import files.
//!
//! A file must be a regular file of at most [`MAX_INPUT_BYTES`] holding UTF-8 text.
//! FIFOs, devices (`/dev/zero`), sockets and directories are refused from their
//! metadata before anything is read; the file is opened non-blocking and checked
//! again through the open handle, so swapping in a FIFO after the first check cannot
//! make antlab wait. Errors name the path and what is wrong with it, never the
//! content; what a YAML error may quote is decided by `sim_core::input`.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::Path;

/// The largest file antlab reads: the manifests of `antlab gen --nodes 5000 --pods
/// 100000 --services 10000` are 27 MB.
pub const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

/// Reads `path` as text under the rules above; `Err` is a one-line message naming it.
pub fn read_input(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let meta =
        std::fs::metadata(path).map_err(|e| format!("{shown}: cannot read: {}", io_words(&e)))?;
    check_kind(&meta).map_err(|what| format!("{shown}: {what}"))?;
    let file =
        open_nonblocking(path).map_err(|e| format!("{shown}: cannot read: {}", io_words(&e)))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("{shown}: cannot read: {}", io_words(&e)))?;
    check_kind(&meta).map_err(|what| format!("{shown}: {what}"))?;
    let mut bytes = Vec::with_capacity(meta.len().min(MAX_INPUT_BYTES) as usize);
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{shown}: cannot read: {}", io_words(&e)))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(too_big(&shown.to_string()));
    }
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = valid.len() - line_start + 1;
        format!(
            "{shown}:{line}:{column}: is not UTF-8 text; antlab reads YAML or JSON text (the file is not shown)"
        )
    })
}

fn too_big(shown: &str) -> String {
    format!(
        "{shown}: is larger than antlab reads ({} MiB at most)",
        MAX_INPUT_BYTES / (1024 * 1024)
    )
}

/// A regular file within the size cap, or what it is instead.
fn check_kind(meta: &std::fs::Metadata) -> Result<(), String> {
    let ft = meta.file_type();
    if ft.is_dir() {
        return Err("is a directory, not a file".into());
    }
    if !ft.is_file() {
        return Err(format!(
            "is {}, not a regular file; antlab reads regular files only",
            special_kind(&ft)
        ));
    }
    if meta.len() > MAX_INPUT_BYTES {
        return Err(format!(
            "is {} MiB, larger than antlab reads ({} MiB at most)",
            meta.len().div_ceil(1024 * 1024),
            MAX_INPUT_BYTES / (1024 * 1024)
        ));
    }
    Ok(())
}

#[cfg(unix)]
fn special_kind(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::FileType) -> &'static str {
    "a special file"
}

/// Opens for reading without blocking on a FIFO that appeared after the metadata
/// check (`O_NONBLOCK`; harmless on a regular file).
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        /// `O_NONBLOCK` on Linux (x86, arm, riscv, s390, powerpc).
        const O_NONBLOCK: i32 = 0o4000;
        options.custom_flags(O_NONBLOCK);
    }
    options.open(path)
}

/// An I/O error in plain words, without the `(os error N)` suffix.
fn io_words(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => "no such file".into(),
        ErrorKind::PermissionDenied => "permission denied".into(),
        ErrorKind::IsADirectory => "is a directory, not a file".into(),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_string(),
                None => s,
            }
        }
    }
}
