//! Writing results to stdout so that `aiop ... | head` ends quietly instead of panicking.

use std::io::{ErrorKind, Write};

/// Writes `text` and a newline to stdout. A closed pipe is not an error: the reader has
/// what it wanted.
pub(crate) fn emit(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    let result = stdout.write_all(text.as_bytes()).and_then(|()| {
        if !text.ends_with('\n') {
            stdout.write_all(b"\n")?;
        }
        stdout.flush()
    });
    match result {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
