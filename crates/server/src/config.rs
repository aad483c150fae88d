//! Configuration: flags, then `DENWA_*` environment variables, then an optional TOML
//! file, then defaults.

use std::path::{Path, PathBuf};

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use crate::recordings::{RecordingsConfig, TranscriberConfig};
use crate::telephony::{TelephonyConfig, parse_port_range};

/// `denwa serve` flags (each also readable from its `DENWA_*` variable).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ServeArgs {
    /// A TOML file with any of: http, data_dir, web_dir, demo, sip, sip_public_ip,
    /// rtp_ports, no_sip, ring_timeout, echo_max_duration, media_timeout, sip_invite_rate,
    /// sip_digest, sip_max_transactions, media_threads, record_calls, whisper_models,
    /// whisper_threads, transcribe_url, transcribe_model.
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
    /// SIP address, UDP and TCP [default: 0.0.0.0:5060; if that is busy, SIP is off with
    /// a warning, while an address given here must bind].
    #[arg(long, env = "DENWA_SIP")]
    pub(crate) sip: Option<String>,
    /// Address SIP peers reach us at (Via, Contact, SDP) [default: the SIP address, or
    /// 127.0.0.1 when that is 0.0.0.0; the media address then follows the caller's route].
    #[arg(long, env = "DENWA_SIP_PUBLIC_IP")]
    pub(crate) sip_public_ip: Option<String>,
    /// RTP port range, inclusive [default: 20000-20999].
    #[arg(long, env = "DENWA_RTP_PORTS")]
    pub(crate) rtp_ports: Option<String>,
    /// Run without SIP and RTP.
    #[arg(long, env = "DENWA_NO_SIP")]
    pub(crate) no_sip: bool,
    /// Seconds a call to a channel number rings before 480 [default: 30].
    #[arg(long, env = "DENWA_RING_TIMEOUT")]
    pub(crate) ring_timeout: Option<u64>,
    /// Longest echo test call in seconds; then the server hangs up [default: 300].
    #[arg(long, env = "DENWA_ECHO_MAX_DURATION")]
    pub(crate) echo_max_duration: Option<u64>,
    /// Seconds without RTP/RTCP after which a call is hung up [default: 60].
    #[arg(long, env = "DENWA_MEDIA_TIMEOUT")]
    pub(crate) media_timeout: Option<u64>,
    /// New INVITEs per second accepted from one source address; excess gets 503 with
    /// Retry-After [default: 5, bursts of 4 s worth].
    #[arg(long, env = "DENWA_SIP_INVITE_RATE")]
    pub(crate) sip_invite_rate: Option<f64>,
    /// Digest challenges (softphone registrar, trunk inbound auth): `md5` offers MD5 only,
    /// which every phone computes; `sha256` offers SHA-256, then MD5 (RFC 8760), for fleets
    /// of phones that all pick a challenge they support — many (baresip before 3.11, SIPp)
    /// give up at a SHA-256 challenge [default: md5].
    #[arg(long, env = "DENWA_SIP_DIGEST")]
    pub(crate) sip_digest: Option<String>,
    /// Most SIP server transactions kept at once; beyond it new requests get a stateless
    /// 503. Finished UDP transactions linger 32 s (RFC 3261 timers J, L), so this caps the
    /// sustained call rate near this / 64 calls per second [default: 100000].
    #[arg(long, env = "DENWA_SIP_MAX_TRANSACTIONS")]
    pub(crate) sip_max_transactions: Option<usize>,
    /// Media threads (each owns the rooms of its calls) [default: one per core].
    #[arg(long, env = "DENWA_MEDIA_THREADS")]
    pub(crate) media_threads: Option<usize>,
    /// Record every bridged call (SPEC RC-1): one WAV track per leg plus a mixed track
    /// under `<data dir>/recordings/<date>/`, then an MP3 of the mix and a transcript
    /// (the echo test is never recorded). `--record-calls false` turns it off
    /// [default: true].
    #[arg(long, env = "DENWA_RECORD_CALLS", num_args = 0..=1, default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) record_calls: Option<bool>,
    /// Folder of faster-whisper (CTranslate2) model folders for the embedded transcriber:
    /// `tiny.en/` for English channels, `base/` (multilingual) for the others
    /// (`scripts/fetch_whisper_models.sh DIR` fetches both) [default: `<data
    /// dir>/whisper` when it holds a model; without models and `--transcribe-url`,
    /// recordings are not transcribed].
    #[arg(long, env = "DENWA_WHISPER_MODEL_DIR")]
    pub(crate) whisper_models: Option<PathBuf>,
    /// CPU threads for one transcription [default: half the cores, at least 1].
    #[arg(long, env = "DENWA_WHISPER_THREADS")]
    pub(crate) whisper_threads: Option<usize>,
    /// Transcribe with an OpenAI-compatible server instead (`POST
    /// <url>/v1/audio/transcriptions`), e.g. `https://api.openai.com` or a faster-whisper
    /// server on another machine.
    #[arg(long, env = "DENWA_TRANSCRIBE_URL")]
    pub(crate) transcribe_url: Option<String>,
    /// The model `--transcribe-url` is asked for [default: whisper-1].
    #[arg(long, env = "DENWA_TRANSCRIBE_MODEL")]
    pub(crate) transcribe_model: Option<String>,
    /// Bearer token for `--transcribe-url`.
    #[arg(long, env = "DENWA_TRANSCRIBE_API_KEY", hide_env_values = true)]
    pub(crate) transcribe_api_key: Option<String>,
}

/// The optional TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigFile {
    http: Option<String>,
    data_dir: Option<PathBuf>,
    web_dir: Option<PathBuf>,
    demo: Option<bool>,
    sip: Option<String>,
    sip_public_ip: Option<String>,
    rtp_ports: Option<String>,
    no_sip: Option<bool>,
    ring_timeout: Option<u64>,
    echo_max_duration: Option<u64>,
    media_timeout: Option<u64>,
    sip_invite_rate: Option<f64>,
    sip_digest: Option<String>,
    sip_max_transactions: Option<usize>,
    media_threads: Option<usize>,
    record_calls: Option<bool>,
    whisper_models: Option<PathBuf>,
    whisper_threads: Option<usize>,
    transcribe_url: Option<String>,
    transcribe_model: Option<String>,
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
    /// `None` with `--no-sip`.
    pub(crate) telephony: Option<TelephonyConfig>,
    /// `None` when calls are not recorded (`--record-calls false`, `--no-sip`).
    pub(crate) recordings: Option<RecordingsConfig>,
}

impl ServeArgs {
    pub(crate) fn resolve(self, file: ConfigFile) -> anyhow::Result<Config> {
        let no_sip = self.no_sip || file.no_sip.unwrap_or(false);
        let data_dir = self
            .data_dir
            .clone()
            .or(file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("./denwa-data"));
        let record_calls = self.record_calls.or(file.record_calls).unwrap_or(true);
        let transcriber = match self.transcribe_url.clone().or(file.transcribe_url.clone()) {
            Some(url) => TranscriberConfig::Http {
                url,
                model: self
                    .transcribe_model
                    .clone()
                    .or(file.transcribe_model.clone())
                    .unwrap_or_else(|| "whisper-1".into()),
                api_key: self.transcribe_api_key.clone(),
            },
            None => match self
                .whisper_models
                .clone()
                .or(file.whisper_models.clone())
                .or_else(|| crate::recordings::default_models(&data_dir))
            {
                Some(models) => TranscriberConfig::Whisper {
                    models,
                    english: "tiny.en".into(),
                    multilingual: "base".into(),
                    threads: match self.whisper_threads.or(file.whisper_threads) {
                        Some(0) => anyhow::bail!("--whisper-threads must be at least 1"),
                        Some(n) => n,
                        None => {
                            std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
                        }
                    },
                    beam_size: 5,
                },
                None => TranscriberConfig::Off,
            },
        };
        let recordings = (record_calls && !no_sip).then(|| RecordingsConfig {
            tracks: data_dir.join("recordings"),
            blobs: data_dir.join("blobs"),
            transcriber,
        });
        let telephony = if no_sip {
            None
        } else {
            let explicit = self.sip.clone().or(file.sip);
            let sip = explicit.as_deref().unwrap_or("0.0.0.0:5060");
            let sip: SocketAddr = sip
                .parse()
                .with_context(|| format!("SIP address {sip:?}: expected IP:PORT"))?;
            let public_ip = match self.sip_public_ip.or(file.sip_public_ip) {
                Some(ip) => Some(
                    ip.parse::<IpAddr>()
                        .with_context(|| format!("SIP public IP {ip:?}"))?,
                ),
                None => None,
            };
            let ports = self
                .rtp_ports
                .or(file.rtp_ports)
                .unwrap_or_else(|| "20000-20999".into());
            let secs = |v: Option<u64>, default: u64| Duration::from_secs(v.unwrap_or(default));
            let invite_rate = self.sip_invite_rate.or(file.sip_invite_rate).unwrap_or(5.0);
            anyhow::ensure!(
                invite_rate.is_finite() && invite_rate > 0.0,
                "--sip-invite-rate must be a positive number"
            );
            let digest_md5_only = match self
                .sip_digest
                .or(file.sip_digest)
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("sha256" | "sha-256") => false,
                None | Some("md5") => true,
                Some(other) => anyhow::bail!("--sip-digest {other:?}: expected sha256 or md5"),
            };
            Some(TelephonyConfig {
                sip,
                sip_explicit: explicit.is_some(),
                public_ip,
                rtp_ports: parse_port_range(&ports)?,
                ring_timeout: secs(self.ring_timeout.or(file.ring_timeout), 30),
                echo_max: secs(self.echo_max_duration.or(file.echo_max_duration), 300),
                media_timeout: secs(self.media_timeout.or(file.media_timeout), 60)
                    .max(Duration::from_secs(1)),
                invite_rate,
                digest_md5_only,
                max_transactions: self
                    .sip_max_transactions
                    .or(file.sip_max_transactions)
                    .unwrap_or(100_000)
                    .max(1),
                media_threads: match self.media_threads.or(file.media_threads) {
                    Some(0) => anyhow::bail!("--media-threads must be at least 1"),
                    Some(n) => n,
                    None => std::thread::available_parallelism().map_or(1, |n| n.get()),
                },
                recordings: record_calls.then(|| data_dir.join("recordings")),
                announcements: data_dir.join("announcements"),
            })
        };
        Ok(Config {
            http: self
                .http
                .or(file.http)
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            data_dir,
            web_dir: Some(
                self.web_dir
                    .or(file.web_dir)
                    .unwrap_or_else(|| PathBuf::from("./web/dist")),
            ),
            demo: self.demo || file.demo.unwrap_or(false),
            demo_password: self.demo_password,
            telephony,
            recordings,
        })
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
            sip: None,
            sip_public_ip: None,
            rtp_ports: None,
            no_sip: false,
            ring_timeout: None,
            echo_max_duration: None,
            media_timeout: None,
            sip_invite_rate: None,
            sip_digest: None,
            sip_max_transactions: None,
            media_threads: None,
            record_calls: None,
            whisper_models: None,
            whisper_threads: None,
            transcribe_url: None,
            transcribe_model: None,
            transcribe_api_key: None,
        }
    }

    #[test]
    fn defaults() {
        let c = args().resolve(ConfigFile::default()).unwrap();
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
        let c = a.resolve(file).unwrap();
        assert_eq!(c.http, "127.0.0.1:1");
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/denwa"));
        assert!(c.demo);
    }

    #[test]
    fn telephony_settings() {
        let t = args()
            .resolve(ConfigFile::default())
            .unwrap()
            .telephony
            .unwrap();
        assert_eq!(t.sip, "0.0.0.0:5060".parse::<SocketAddr>().unwrap());
        assert!(!t.sip_explicit);
        assert_eq!(t.rtp_ports, (20000, 20999));
        assert_eq!(t.ring_timeout, Duration::from_secs(30));
        let file: ConfigFile = toml::from_str(
            "sip = \"127.0.0.1:5070\"\nrtp_ports = \"30000-30099\"\necho_max_duration = 5",
        )
        .unwrap();
        let mut a = args();
        a.sip_public_ip = Some("203.0.113.9".into());
        let t = a.resolve(file).unwrap().telephony.unwrap();
        assert_eq!(t.sip, "127.0.0.1:5070".parse::<SocketAddr>().unwrap());
        assert!(t.sip_explicit);
        assert_eq!(t.public_ip, Some("203.0.113.9".parse().unwrap()));
        assert_eq!(t.rtp_ports, (30000, 30099));
        assert_eq!(t.echo_max, Duration::from_secs(5));
        let mut a = args();
        a.no_sip = true;
        assert!(
            a.resolve(ConfigFile::default())
                .unwrap()
                .telephony
                .is_none()
        );
        let mut a = args();
        a.sip = Some("nonsense".into());
        assert!(a.resolve(ConfigFile::default()).is_err());
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        assert!(toml::from_str::<ConfigFile>("htp = \"x\"").is_err());
    }
}
