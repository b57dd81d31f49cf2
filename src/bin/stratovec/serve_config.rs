//! `stratovec serve --config FILE`: a TOML file of the same settings as the flags
//! (`listen = "0.0.0.0:8080"`, `read-only = true`, `backup-interval-secs = 600`, …).
//! Precedence: command-line flag, then `STRATOVEC_*` variable, then the file, then the
//! default. The file is applied by setting, before the command line is parsed, each of its
//! settings' variables that is not set already.

use std::ffi::OsString;

use clap::{ArgMatches, Args, Command};
use stratovec::{Error, ErrorKind};

/// The config file named by `--config PATH` / `--config=PATH` in `args` (serve only), or
/// by `STRATOVEC_CONFIG`.
fn config_path(args: &[OsString]) -> Option<OsString> {
    if args.get(1).is_none_or(|a| a != "serve") {
        return None;
    }
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--config" {
            return it.next().cloned();
        }
        if let Some(p) = a.to_str().and_then(|s| s.strip_prefix("--config=")) {
            return Some(p.into());
        }
    }
    std::env::var_os("STRATOVEC_CONFIG")
}

/// The variable of each `serve` setting, by its long flag.
fn settings() -> Vec<(String, String)> {
    let cmd = crate::serve::ServeArgs::augment_args(Command::new("serve"));
    cmd.get_arguments().filter_map(|a| Some((a.get_long()?.to_string(), a.get_env()?.to_string_lossy().into_owned()))).collect()
}

/// Applies the config file of `args`, if any (see the module docs).
///
/// # Errors
/// `InvalidArgument` for a file that cannot be read or parsed, or a setting `serve` does
/// not have.
pub fn apply(args: &[OsString]) -> Result<(), Error> {
    let Some(path) = config_path(args) else { return Ok(()) };
    let bad = |why: String| Error::new(ErrorKind::InvalidArgument, format!("config file {}: {why}", path.to_string_lossy()));
    let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| bad(e.to_string()))?;
    let known = settings();
    for (key, value) in table {
        let Some((_, var)) = known.iter().find(|(long, _)| *long == key.replace('_', "-")) else {
            return Err(bad(format!("unknown setting {key:?} (settings are the long flags of `stratovec serve --help`)")));
        };
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => value.to_string(),
            other => return Err(bad(format!("{key}: {} is not a string, number or boolean", other.type_str()))),
        };
        if std::env::var_os(var).is_none() {
            // Single-threaded here: nothing else reads the environment yet.
            std::env::set_var(var, value);
        }
    }
    Ok(())
}

/// `--print-config`: the effective settings as TOML, each with where it came from.
pub fn print(matches: &ArgMatches) {
    for (long, _) in settings() {
        let id = long.replace('-', "_");
        let (Ok(Some(values)), Some(source)) = (matches.try_get_raw(&id), matches.value_source(&id)) else { continue };
        let value: Vec<String> = values.map(|v| v.to_string_lossy().into_owned()).collect();
        let value = value.join(",");
        let shown = if value.parse::<f64>().is_ok() || value == "true" || value == "false" { value } else { format!("{value:?}") };
        println!("{long} = {shown}  # {source:?}");
    }
}
