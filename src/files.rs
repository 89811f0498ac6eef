//! Reading user files with a size limit, and writing outputs atomically without ever
//! overwriting an input.
//!
//! Every output (an `export -o` file, a `replay --out` folder) is built under a temporary
//! name beside its destination (`.NAME.tmp-PID`) and renamed into place only when complete.
//! The temporary is removed on any failure, a panic included, and also when a signal ends
//! the process (Ctrl+C, SIGTERM, a closed terminal), so a failed command leaves nothing
//! behind. Renaming replaces a directory entry and never writes into an existing
//! file, so no input (scenario, script, trace) is ever written to; an output path that
//! names an input is refused outright.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{OutputError, ReadError};

/// Read a UTF-8 text file of at most `max_bytes`; the error says what is wrong, the
/// caller names the file.
pub fn read_text(path: &Path, max_bytes: u64) -> Result<String, ReadError> {
    let meta = fs::metadata(path).map_err(ReadError::Io)?;
    if meta.is_dir() {
        return Err(ReadError::Directory);
    }
    if meta.len() > max_bytes {
        return Err(ReadError::FileTooLarge {
            size: meta.len(),
            limit: max_bytes,
        });
    }
    // The size can change between the check and the read (a growing file, a FIFO):
    // read at most one byte more than allowed.
    let file = fs::File::open(path).map_err(ReadError::Io)?;
    read_limited(file, max_bytes)
}

/// Read standard input (or any reader) as UTF-8 text of at most `max_bytes`.
pub fn read_limited(reader: impl Read, max_bytes: u64) -> Result<String, ReadError> {
    let mut bytes = Vec::new();
    reader
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > max_bytes {
        return Err(ReadError::TooLarge { limit: max_bytes });
    }
    String::from_utf8(bytes).map_err(|e| ReadError::NotUtf8(e.utf8_error()))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn refuse_inputs(path: &Path, inputs: &[&Path]) -> Result<(), OutputError> {
    if inputs.iter().any(|input| same_file(path, input)) {
        return Err(OutputError::WouldOverwriteInput {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

/// A temporary file or folder beside an output, removed when dropped unless it was
/// renamed into place: on an error, an early return or a panic alike.
struct Temporary {
    path: PathBuf,
    renamed: bool,
}

/// Removal of the temporary file being written if a signal ends the process first.
#[cfg(unix)]
mod on_interrupt {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicUsize, Ordering};

    /// The temporary file's path, as a C string for unlink(2) in the signal handler.
    static PENDING: AtomicPtr<libc::c_char> = AtomicPtr::new(std::ptr::null_mut());
    /// Temporary folders being filled: while there are any, a signal is only noted, in
    /// [`RECEIVED`].
    static FILLING: AtomicUsize = AtomicUsize::new(0);
    /// The signal that arrived while a folder was being filled, or 0.
    static RECEIVED: AtomicI32 = AtomicI32::new(0);

    fn install() {
        static INSTALLED: OnceLock<()> = OnceLock::new();
        INSTALLED.get_or_init(|| {
            for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                let action = move || {
                    // A folder cannot be removed from a signal handler: its filler stops at
                    // its next step, removes it, then ends the process (`Filling::drop`).
                    if FILLING.load(Ordering::SeqCst) > 0 {
                        RECEIVED.store(signal, Ordering::SeqCst);
                        return;
                    }
                    let path = PENDING.swap(std::ptr::null_mut(), Ordering::SeqCst);
                    if !path.is_null() {
                        // SAFETY: a NUL-terminated path that only this handler now owns.
                        unsafe { libc::unlink(path) };
                    }
                    // Then end the process as the signal would have.
                    let _ = signal_hook::low_level::emulate_default_handler(signal);
                };
                // SAFETY: the action only reads and swaps atomics, calls unlink(2) and
                // re-raises the signal with its default action: all async-signal-safe.
                let _ = unsafe { signal_hook::low_level::register(signal, action) };
            }
        });
    }

    /// Remove `path` if the process is interrupted before [`clear`] is called.
    pub fn watch(path: &Path) {
        let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
            return;
        };
        install();
        free(PENDING.swap(c.into_raw(), Ordering::SeqCst));
    }

    pub fn clear() {
        free(PENDING.swap(std::ptr::null_mut(), Ordering::SeqCst));
    }

    /// While this lives, Ctrl+C, SIGTERM and SIGHUP are noted instead of ending the process
    /// at once; when it is dropped, after the temporary folder, a noted signal ends the
    /// process as it would have.
    pub struct Filling(());

    pub fn filling() -> Filling {
        install();
        FILLING.fetch_add(1, Ordering::SeqCst);
        Filling(())
    }

    pub fn received() -> bool {
        RECEIVED.load(Ordering::SeqCst) != 0
    }

    impl Drop for Filling {
        fn drop(&mut self) {
            // The last folder filled is the one to end the process, after all are removed.
            if FILLING.fetch_sub(1, Ordering::SeqCst) > 1 {
                return;
            }
            let signal = RECEIVED.swap(0, Ordering::SeqCst);
            if signal != 0 {
                let _ = signal_hook::low_level::emulate_default_handler(signal);
            }
        }
    }

    fn free(path: *mut libc::c_char) {
        if !path.is_null() {
            // SAFETY: made by CString::into_raw in `watch`, and swapped out, so owned here.
            drop(unsafe { CString::from_raw(path) });
        }
    }
}

#[cfg(not(unix))]
mod on_interrupt {
    pub fn watch(_: &std::path::Path) {}
    pub fn clear() {}
    pub struct Filling;
    pub fn filling() -> Filling {
        Filling
    }
    pub fn received() -> bool {
        false
    }
}

impl Temporary {
    /// `.NAME.tmp-PID` in the folder of `path`.
    fn beside(path: &Path) -> Result<Temporary, OutputError> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_name = path
            .file_name()
            .ok_or_else(|| OutputError::NotAFileName {
                path: path.to_path_buf(),
            })?
            .to_string_lossy()
            .into_owned();
        let path = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
        // A leftover of an earlier process that had the same id (it was killed).
        if fs::symlink_metadata(&path).is_ok() {
            let _ = fs::remove_file(&path).or_else(|_| fs::remove_dir_all(&path));
        }
        Ok(Temporary {
            path,
            renamed: false,
        })
    }

    fn rename_to(mut self, path: &Path) -> std::io::Result<()> {
        fs::rename(&self.path, path)?;
        self.renamed = true;
        Ok(())
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        on_interrupt::clear();
        if !self.renamed {
            let _ = fs::remove_file(&self.path).or_else(|_| fs::remove_dir_all(&self.path));
        }
    }
}

/// Write `path` through a temporary file in the same folder, renamed into place, so that a
/// failure never leaves a partial file. Refuses to replace any of the `inputs`.
pub fn write_atomic(
    path: &Path,
    inputs: &[&Path],
    write: impl FnOnce(&mut std::io::BufWriter<fs::File>) -> std::io::Result<()>,
) -> Result<(), OutputError> {
    refuse_inputs(path, inputs)?;
    let tmp = Temporary::beside(path)?;
    on_interrupt::watch(&tmp.path);
    let result = (|| -> std::io::Result<()> {
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp.path)?;
        let mut file = std::io::BufWriter::new(file);
        write(&mut file)?;
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        tmp.rename_to(path)
    })();
    result.map_err(|source| OutputError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Create the new folder `dir` through a temporary folder beside it, which `fill` writes
/// into and which is renamed into place when complete. An existing `dir` is refused.
///
/// A signal that would end the process (Ctrl+C, SIGTERM, SIGHUP) while `fill` runs is held
/// back: `fill` should call [`stop_if_interrupted`] between steps of a long job. The
/// temporary folder is then removed, and the signal ends the process.
pub fn write_atomic_dir(
    dir: &Path,
    fill: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<(), OutputError> {
    if fs::symlink_metadata(dir).is_ok() {
        return Err(OutputError::FolderExists {
            path: dir.to_path_buf(),
        });
    }
    // Declared before the temporary, so dropped after it: the folder goes first.
    let _filling = on_interrupt::filling();
    let tmp = Temporary::beside(dir)?;
    let result = (|| -> std::io::Result<()> {
        fs::create_dir(&tmp.path)?;
        fill(&tmp.path)?;
        stop_if_interrupted()?;
        tmp.rename_to(dir)
    })();
    result.map_err(|source| OutputError::Write {
        path: dir.to_path_buf(),
        source,
    })
}

/// Inside [`write_atomic_dir`]'s `fill`: an error once a signal has asked the process to
/// end, so that the temporary folder is removed before it does.
pub fn stop_if_interrupted() -> std::io::Result<()> {
    if on_interrupt::received() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Interrupted,
            "interrupted by a signal",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn refuses_to_overwrite_an_input_and_leaves_no_temp_file_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("s.json");
        fs::write(&input, "{}").unwrap();
        let err = write_atomic(&input, &[&input], |w| w.write_all(b"x")).unwrap_err();
        assert!(
            matches!(&err, OutputError::WouldOverwriteInput { path } if *path == input),
            "{err:?}"
        );
        assert_eq!(fs::read_to_string(&input).unwrap(), "{}");

        let out = dir.path().join("out.json");
        let err = write_atomic(&out, &[], |_| Err(std::io::Error::other("boom"))).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: cannot write: boom", out.display())
        );
        assert_eq!(entries(dir.path()), ["s.json"], "only the input remains");
    }

    #[test]
    fn a_panic_while_writing_leaves_no_temp_file_and_keeps_the_old_output() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.json");
        fs::write(&out, "old").unwrap();
        let panicked = std::panic::catch_unwind(|| {
            write_atomic(&out, &[], |w| {
                w.write_all(b"half")?;
                panic!("a bug while writing")
            })
        });
        assert!(panicked.is_err());
        assert_eq!(entries(dir.path()), ["out.json"]);
        assert_eq!(fs::read_to_string(&out).unwrap(), "old");
        write_atomic(&out, &[], |w| w.write_all(b"new")).unwrap();
        assert_eq!(fs::read_to_string(&out).unwrap(), "new");
    }

    #[test]
    fn a_folder_is_written_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let frames = dir.path().join("frames");
        let err = write_atomic_dir(&frames, |tmp| {
            fs::write(tmp.join("frame-0000.txt"), "a")?;
            Err(std::io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(
            matches!(&err, OutputError::Write { source, .. } if source.to_string() == "disk full"),
            "{err:?}"
        );
        assert!(entries(dir.path()).is_empty());
        write_atomic_dir(&frames, |tmp| fs::write(tmp.join("frame-0000.txt"), "a")).unwrap();
        assert_eq!(entries(&frames), ["frame-0000.txt"]);
        let err = write_atomic_dir(&frames, |_| Ok(())).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: already exists; give a new folder", frames.display())
        );
    }

    #[test]
    fn reading_stops_past_the_limit() {
        assert_eq!(read_limited(&b"abc"[..], 3).unwrap(), "abc");
        assert_eq!(
            read_limited(&b"abcd"[..], 3).unwrap_err().to_string(),
            "more than the limit of 3 bytes"
        );
        assert_eq!(
            read_limited(&b"a\xffb"[..], 3).unwrap_err().to_string(),
            "not UTF-8 text (byte 1)"
        );
    }
}
