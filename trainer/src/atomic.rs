//! Crash-safe file output, shared by every writer of the trainer (model,
//! metrics, checkpoints, plots, `.npy` files).
//!
//! [`write()`] puts the bytes in a temporary file in the target's directory,
//! named [`TEMP_PREFIX`]`<target name>.<pid>.<n>`, syncs it to disk, renames
//! it over the target and syncs the directory. A reader (or a process killed
//! at any moment) sees either the old complete file or the new complete file,
//! never a half-written one. A crash can leave a temporary file behind;
//! [`remove_stale_temps`] deletes them (`trainer fit` calls it on its output
//! directory when it starts).

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Name prefix of every temporary file [`write()`] creates.
pub const TEMP_PREFIX: &str = ".rrae-tmp.";

/// Writes `bytes` to `path` atomically (temporary file, `fsync`, rename,
/// directory `fsync`). The directory must exist. On error the temporary
/// file is removed and `path` is unchanged.
///
/// # Errors
/// The I/O error; `InvalidInput` if `path` has no file name.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a file path", path.display()),
        )
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        "{TEMP_PREFIX}{}.{}.{}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = result {
        // Best effort: the temporary file may not exist.
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // Make the rename itself durable. Not every platform can open and sync
    // a directory; the data is already safe, so this is best effort.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Deletes the temporary files a crashed [`write()`] left in `dir` (files
/// whose name starts with [`TEMP_PREFIX`]); returns how many were removed.
/// A missing or unreadable directory counts as having none.
pub fn remove_stale_temps(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(TEMP_PREFIX))
        .filter(|e| fs::remove_file(e.path()).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.bin");
        write(&p, b"one").unwrap();
        write(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(names(dir.path()), ["m.bin"]);
    }

    #[test]
    fn failures_leave_target_and_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write(&dir.path().join("missing/m.bin"), b"x").is_err());
        assert_eq!(
            write(Path::new("/"), b"x").unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        // The target is a directory: the rename fails, the temp file goes.
        fs::create_dir(dir.path().join("sub")).unwrap();
        assert!(write(&dir.path().join("sub"), b"x").is_err());
        assert_eq!(names(dir.path()), ["sub"]);
    }

    #[test]
    fn stale_temps_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(format!("{TEMP_PREFIX}m.bin.1.0")), b"half").unwrap();
        fs::write(dir.path().join("keep.bin"), b"x").unwrap();
        assert_eq!(remove_stale_temps(dir.path()), 1);
        assert_eq!(names(dir.path()), ["keep.bin"]);
        assert_eq!(remove_stale_temps(&dir.path().join("nope")), 0);
    }
}
