//! Free space on the disk that holds the store.
//!
//! A store that runs out of room mid-write is the worst way to learn the
//! disk is full: the embedded store stops taking writes for the rest of the process's
//! life, and a snapshot cut short can keep it from opening at all. So the
//! worker looks before each batch and stops taking mail while the disk is
//! nearly full (`intake.min_free_mib`): the mail stays with its source (an
//! IMAP server is not told, a Maildir file stays), and is taken once there
//! is room again. Commands that only read refuse to open a store on a disk
//! with almost nothing left (opening may write a snapshot).

use std::path::Path;

/// Bytes available to this (unprivileged) process on the file system
/// holding `path` (the nearest existing ancestor, when `path` is not there
/// yet).
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let mut at = path;
    while !at.exists() {
        match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => at = p,
            _ => {
                at = Path::new(".");
                break;
            }
        }
    }
    let c = std::ffi::CString::new(at.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut s = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a valid NUL-terminated path and `s` points to a
    // statvfs-sized buffer that statvfs fills on success.
    let rc = unsafe { libc::statvfs(c.as_ptr(), s.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled `s`.
    let s = unsafe { s.assume_init() };
    Ok(s.f_bavail.saturating_mul(s.f_frsize))
}

/// `Err` with a message when the disk holding `path` has less than
/// `min_bytes` free (`what` says what is being held back).
pub fn ensure(path: &Path, min_bytes: u64, what: &str) -> Result<(), String> {
    match free_bytes(path) {
        Ok(free) if free < min_bytes => Err(format!(
            "the disk holding {} has {} KiB free, below {} KiB: {what}",
            path.display(),
            free >> 10,
            min_bytes >> 10
        )),
        // Unknown free space must not stop the helpdesk.
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_space_is_read_and_compared() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(dir.path()).unwrap();
        assert!(free > 0);
        // A path not created yet is measured on its nearest ancestor.
        assert!(free_bytes(&dir.path().join("not/yet")).unwrap() > 0);
        assert!(ensure(dir.path(), 1, "x").is_ok());
        let err = ensure(dir.path(), u64::MAX, "intake paused").unwrap_err();
        assert!(
            err.contains("KiB free") && err.ends_with("intake paused"),
            "{err}"
        );
    }
}
