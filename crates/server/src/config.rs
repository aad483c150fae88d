//! Configuration: flags, then `DENWA_*` environment variables, then an optional TOML
//! file, then defaults.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// `denwa serve` flags (each also readable from its `DENWA_*` variable).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ServeArgs {
    /// A TOML file with any of: http, data_dir, web_dir, demo.
    #[arg(long, env = "DENWA_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// HTTP listen address [default: 127.0.0.1:8080].
    #[arg(long, env = "DENWA_HTTP")]
    pub(crate) http: Option<String>,
    /// Data directory: database, recordings [default: ./denwa-data].
    #[arg(long, env = "DENWA_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// The built staff console [default: ./web/dist].
    #[arg(long, env = "DENWA_WEB_DIR")]
    pub(crate) web_dir: Option<PathBuf>,
    /// Create the demo channel, staff and sample chats if they do not exist (also done
    /// on an empty data directory).
    #[arg(long, env = "DENWA_DEMO")]
    pub(crate) demo: bool,
    /// Password for the demo staff accounts; a random one is printed when absent.
    #[arg(long, env = "DENWA_DEMO_PASSWORD", hide_env_values = true)]
    pub(crate) demo_password: Option<String>,
}

/// The optional TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigFile {
    http: Option<String>,
    data_dir: Option<PathBuf>,
    web_dir: Option<PathBuf>,
    demo: Option<bool>,
}

impl ConfigFile {
    pub(crate) fn load(path: &Path) -> anyhow::Result<ConfigFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("in config file {}", path.display()))
    }
}

/// The settings `denwa serve` runs with.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) http: String,
    pub(crate) data_dir: PathBuf,
    pub(crate) web_dir: Option<PathBuf>,
    pub(crate) demo: bool,
    pub(crate) demo_password: Option<String>,
}

impl ServeArgs {
    pub(crate) fn resolve(self, file: ConfigFile) -> Config {
        Config {
            http: self
                .http
                .or(file.http)
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            data_dir: self
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./denwa-data")),
            web_dir: Some(
                self.web_dir
                    .or(file.web_dir)
                    .unwrap_or_else(|| PathBuf::from("./web/dist")),
            ),
            demo: self.demo || file.demo.unwrap_or(false),
            demo_password: self.demo_password,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> ServeArgs {
        ServeArgs {
            config: None,
            http: None,
            data_dir: None,
            web_dir: None,
            demo: false,
            demo_password: None,
        }
    }

    #[test]
    fn defaults() {
        let c = args().resolve(ConfigFile::default());
        assert_eq!(c.http, "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./denwa-data"));
        assert!(!c.demo);
    }

    #[test]
    fn flags_win_over_the_file() {
        let file: ConfigFile =
            toml::from_str("http = \"0.0.0.0:9000\"\ndata_dir = \"/var/lib/denwa\"\ndemo = true")
                .unwrap();
        let mut a = args();
        a.http = Some("127.0.0.1:1".into());
        let c = a.resolve(file);
        assert_eq!(c.http, "127.0.0.1:1");
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/denwa"));
        assert!(c.demo);
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        assert!(toml::from_str::<ConfigFile>("htp = \"x\"").is_err());
    }
}
