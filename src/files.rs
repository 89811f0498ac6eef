//! Reading user files with a size limit, and writing outputs atomically without ever
//! overwriting an input.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Read a UTF-8 text file of at most `max_bytes`, with a message that names the problem.
pub fn read_text(path: &Path, max_bytes: u64) -> Result<String, String> {
    let meta = fs::metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if meta.is_dir() {
        return Err("is a directory, not a file".into());
    }
    if meta.len() > max_bytes {
        return Err(format!(
            "file of {} bytes exceeds the limit of {max_bytes} bytes",
            meta.len()
        ));
    }
    let bytes = fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes)
        .map_err(|e| format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Write `path` through a temporary file in the same folder, renamed into place, so that a
/// failure never leaves a partial file. Refuses to replace any of the `inputs`.
pub fn write_atomic(
    path: &Path,
    inputs: &[&Path],
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), String> {
    if let Some(input) = inputs.iter().find(|input| same_file(path, input)) {
        return Err(format!(
            "refusing to overwrite {}, which is an input of this command",
            input.display()
        ));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| format!("{}: not a file name", path.display()))?
        .to_string_lossy()
        .into_owned();
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut file = std::io::BufWriter::new(fs::File::create(&tmp)?);
        write(&mut file)?;
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_to_overwrite_an_input_and_leaves_no_temp_file_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("s.json");
        fs::write(&input, "{}").unwrap();
        let err = write_atomic(&input, &[&input], |w| w.write_all(b"x")).unwrap_err();
        assert!(err.contains("refusing to overwrite"));
        assert_eq!(fs::read_to_string(&input).unwrap(), "{}");

        let out = dir.path().join("out.json");
        let err = write_atomic(&out, &[], |_| Err(std::io::Error::other("boom"))).unwrap_err();
        assert!(err.contains("boom"));
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "only the input remains"
        );
    }
}
