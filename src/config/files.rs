//! Keys that name files: secrets (from the environment or a file, never inline) and CA
//! bundles. They are read while the config is checked, so a missing or unreadable file is a
//! problem with its file and line, found by `check` as by a start or a reload.

use std::path::{Path, PathBuf};

use super::Secret;
use super::problems::Table;

/// A secret from `KEY` (only through the environment) or from the file named by `KEY_file`.
pub(crate) fn secret(
    table: &mut Table<'_>,
    key: &'static str,
    file_key: &'static str,
    base_dir: &Path,
) -> Option<Secret> {
    let inline: Option<String> = table.optional(key, "a secret string, set through the environment");
    let file: Option<String> = table.optional(file_key, "the path of a file holding the secret");
    // What would fail only when first sent (an empty secret, a second line, a control
    // character) is a problem now, named by its key, never quoting the secret.
    let unusable = |value: &str| {
        if value.is_empty() {
            Some("is empty")
        } else if value.chars().any(char::is_control) {
            Some("holds a line break or another control character (one line, the secret only)")
        } else {
            None
        }
    };
    match (inline, file) {
        (Some(value), None) => match unusable(&value) {
            Some(why) => {
                table.report(key, format!("the secret {why}"));
                None
            }
            None => Some(Secret::new(value)),
        },
        (None, Some(path)) => match std::fs::read_to_string(base_dir.join(&path)) {
            Ok(text) => {
                let value = text.trim_end_matches(['\n', '\r']);
                match unusable(value) {
                    Some(why) => {
                        table.report(file_key, format!("the secret in {path} {why}"));
                        None
                    }
                    None => Some(Secret::new(value.to_string())),
                }
            }
            Err(error) => {
                table.report(file_key, format!("cannot read {path}: {error}"));
                None
            }
        },
        (Some(_), Some(_)) => {
            table.report(key, format!("set either {key} (environment) or {file_key}, not both"));
            None
        }
        (None, None) => None,
    }
}

/// A CA bundle named by `key`: the path, when the file can be read and holds at least one PEM
/// certificate (otherwise a problem is recorded and it is left out).
pub(crate) fn ca_file(table: &mut Table<'_>, key: &'static str, base_dir: &Path) -> Option<PathBuf> {
    let path = base_dir.join(table.optional::<String>(key, "a PEM file path")?);
    let problem = match std::fs::read(&path) {
        Err(error) => format!("cannot read {}: {error}", path.display()),
        Ok(pem) => match reqwest::Certificate::from_pem_bundle(&pem) {
            Ok(certificates) if !certificates.is_empty() => return Some(path),
            Ok(_) => format!("{} holds no PEM certificate", path.display()),
            Err(error) => format!("{} is not a PEM certificate bundle: {error}", path.display()),
        },
    };
    table.report(key, problem);
    None
}
