//! Reading the bytes a user passes on the command line: `0x`-prefixed hex, or `@path` to a
//! file holding either hex text (starting with `0x`) or raw bytes.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// Parses `0xHEX` or `@path` into bytes.
pub(crate) fn parse_bytes_arg(arg: &str) -> Result<Vec<u8>> {
    if let Some(path) = arg.strip_prefix('@') {
        let raw = std::fs::read(path).with_context(|| format!("cannot read input file `{path}`"))?;
        return match raw.strip_prefix(b"0x") {
            Some(hex_text) => {
                let text = std::str::from_utf8(hex_text)
                    .with_context(|| format!("`{path}` starts with 0x but is not hex text"))?;
                decode_hex(text.trim()).with_context(|| format!("in input file `{path}`"))
            }
            None => Ok(raw),
        };
    }
    match arg.strip_prefix("0x").or_else(|| arg.strip_prefix("0X")) {
        Some(hex_text) => decode_hex(hex_text),
        None => {
            bail!("input `{}` is neither 0x-prefixed hex nor @path; write it as 0x0102.. or @input.bin", shorten(arg))
        }
    }
}

fn decode_hex(text: &str) -> Result<Vec<u8>> {
    if text.len() % 2 == 1 {
        bail!("hex input has an odd number of digits ({}); each byte takes two", text.len());
    }
    hex::decode(text).map_err(|e| anyhow::anyhow!("hex input is not valid hex: {e}"))
}

fn shorten(s: &str) -> String {
    if s.len() > 40 { format!("{}…", s.chars().take(40).collect::<String>()) } else { s.to_owned() }
}

/// Reads a model file, naming the file in the error.
pub(crate) fn read_model_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read model file `{}`", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_errors() {
        assert_eq!(parse_bytes_arg("0x01ff").unwrap(), vec![1, 255]);
        assert_eq!(parse_bytes_arg("0x").unwrap(), Vec::<u8>::new());
        assert!(parse_bytes_arg("0x1").unwrap_err().to_string().contains("odd"));
        assert!(parse_bytes_arg("0xzz").is_err());
        assert!(parse_bytes_arg("0102").unwrap_err().to_string().contains("@path"));
        assert!(parse_bytes_arg("@/nonexistent/aiop-input").unwrap_err().to_string().contains("cannot read"));
    }
}
