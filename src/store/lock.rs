//! One daemon per state file. Two daemons on one file would both drain the outbox (every
//! message delivered twice) and race in the migrations of a fresh file, so a daemon takes an
//! exclusive lock on `<state file>.lock` (the operating system's file lock, through std) before
//! it opens the state file, keeps it for its lifetime, and writes its process id in it so the
//! next one can say who holds it. The lock goes with the process, however it ends: a stale
//! `.lock` file left after SIGKILL locks nothing.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::StoreError;

/// The lock on a state file, held while this value lives.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Where the lock of the state file at `path` lives: beside the file it really is, whatever
/// symbolic links or relative paths name it, so two names of one file take one lock.
pub fn lock_path(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}.lock", canonical(path).display()))
}

/// `path` with links and `..` resolved: the file itself when it exists, else its resolved
/// directory and its name (a state file not created yet).
fn canonical(path: &Path) -> PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            std::fs::canonicalize(parent).map_or_else(|_| path.to_path_buf(), |dir| dir.join(name))
        }
        _ => path.to_path_buf(),
    }
}

/// Takes the lock of the state file at `path`, or says which process holds it.
pub fn acquire(path: &Path) -> Result<Lock, StoreError> {
    let lock_path = lock_path(path);
    let io = |source: std::io::Error| StoreError::Lock {
        path: lock_path.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(StoreError::InUse {
                path: path.to_path_buf(),
                lock: lock_path.clone(),
                holder: holder.trim().to_string(),
            });
        }
        Err(TryLockError::Error(source)) => return Err(io(source)),
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "pid {}", std::process::id()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(Lock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_told_who_holds_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("headroom.db");
        let first = acquire(&path).expect("first");
        let error = acquire(&path).expect_err("held").to_string();
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(error.contains(&format!("pid {}", std::process::id())), "{error}");
        drop(first);
        acquire(&path).expect("free again once the holder is gone");
    }

    /// A symbolic link to the state file (or a path through `..`) is the same file: one lock.
    #[cfg(unix)]
    #[test]
    fn another_name_of_the_same_file_takes_the_same_lock() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("headroom.db");
        std::fs::write(&path, b"").expect("state file");
        let link = dir.path().join("link.db");
        std::os::unix::fs::symlink(&path, &link).expect("link");
        let _first = acquire(&path).expect("first");
        let error = acquire(&link).expect_err("the same file").to_string();
        assert!(error.contains(&format!("pid {}", std::process::id())), "{error}");
        std::fs::create_dir(dir.path().join("sub")).expect("sub");
        let dotted = dir.path().join("sub").join("..").join("headroom.db");
        assert!(acquire(&dotted).is_err(), "through ..");
    }
}
