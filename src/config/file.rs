//! The config file: TOML at `$XDG_CONFIG_HOME/ko2en/config.toml` (else `~/.config/ko2en/…`),
//! or `--config FILE` / `KO2EN_CONFIG`. Top-level keys are the defaults of every run; each
//! `[profiles.NAME]` table says the same things for one setup, chosen with `-p NAME`,
//! `KO2EN_PROFILE`, or the file's own `profile = "NAME"`.
//!
//! Every key is one a flag can say, spelled as the flag without its dashes and with `_`
//! (`api_key_env`, `max_chunk_tokens`), plus `api_key_cmd` (a command that prints the key) and
//! `api_key` (the key itself, warned about when others can read the file). Unknown keys are
//! refused, naming the key and the file: a typo must not silently do nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;
use crate::price::Price;

/// What a profile (or the file's top level) may say.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Profile {
    pub(crate) provider: Option<String>,
    pub(crate) base_url: Option<String>,
    /// Several routes serving the same model, instead of one `base_url`: URLs, or tables
    /// giving a route its own key (see [`Route`]).
    pub(crate) endpoints: Option<Vec<Route>>,
    pub(crate) model: Option<String>,
    pub(crate) api_key_env: Option<String>,
    pub(crate) api_key_cmd: Option<String>,
    pub(crate) api_key: Option<String>,
    pub(crate) api_version: Option<String>,
    pub(crate) token_param: Option<String>,
    pub(crate) response_format: Option<String>,
    pub(crate) temperature: Option<f32>,
    pub(crate) timeout: Option<u64>,
    pub(crate) stream: Option<bool>,
    pub(crate) rpm: Option<u32>,
    pub(crate) tpm: Option<u32>,
    pub(crate) concurrency: Option<usize>,
    pub(crate) max_attempts: Option<u32>,
    pub(crate) max_chunk_tokens: Option<usize>,
    pub(crate) completion_budget: Option<String>,
    pub(crate) max_article_tokens: Option<usize>,
    pub(crate) encoding: Option<String>,
    pub(crate) input_encoding: Option<String>,
    pub(crate) glossary: Option<PathBuf>,
    pub(crate) prompts: Option<PathBuf>,
    pub(crate) cache: Option<PathBuf>,
    pub(crate) no_cache: Option<bool>,
    pub(crate) no_clean: Option<bool>,
    pub(crate) strict: Option<bool>,
    pub(crate) allow_non_korean: Option<bool>,
    pub(crate) max_cost: Option<f64>,
}

/// One entry of `endpoints = [...]`: a base URL, or a table with a URL (else the provider's)
/// and a key of its own (else the profile's), so that two keys of separate quotas can share
/// a run: `endpoints = [{ api_key_env = "KEY_A" }, { api_key_env = "KEY_B" }]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum Route {
    Url(String),
    Table(RouteTable),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteTable {
    pub(crate) base_url: Option<String>,
    pub(crate) api_key_env: Option<String>,
    pub(crate) api_key_cmd: Option<String>,
    pub(crate) api_key: Option<String>,
}

/// The file, read.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConfigFile {
    pub(crate) path: Option<PathBuf>,
    /// The top level: defaults under every profile.
    pub(crate) defaults: Profile,
    /// The profile the file itself picks when none is asked for.
    pub(crate) default_profile: Option<String>,
    pub(crate) profiles: BTreeMap<String, Profile>,
    /// `[prices.MODEL]`: prices that override or add to the built-in ones.
    pub(crate) prices: BTreeMap<String, Price>,
    /// Whether others than the owner may read it (then a literal `api_key` is warned about).
    pub(crate) readable_by_others: bool,
}

/// The file as TOML: the profile choice, the profiles, and the rest (the defaults, checked
/// as a [`Profile`] so that an unknown key is refused).
#[derive(Deserialize)]
struct Raw {
    profile: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
    #[serde(default)]
    prices: BTreeMap<String, Price>,
    #[serde(flatten)]
    defaults: toml::Table,
}

impl ConfigFile {
    /// Read `path`. `explicit`: the user named it, so its absence is an error; the default
    /// location may simply not exist.
    pub(crate) fn load(path: &Path, explicit: bool) -> Result<ConfigFile, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(ConfigFile::default());
            }
            Err(e) => {
                return Err(ConfigError::Invalid(format!(
                    "cannot read the config file {}: {e}; `ko2en config init` writes an example",
                    path.display()
                )));
            }
        };
        let bad = |e: &dyn std::fmt::Display| {
            ConfigError::Invalid(format!("the config file {} is not valid: {e}", path.display()))
        };
        let raw: Raw = toml::from_str(&text).map_err(|e| bad(&e.message().to_string()))?;
        let defaults = Profile::deserialize(raw.defaults).map_err(|e| bad(&e.message().to_string()))?;
        Ok(ConfigFile {
            path: Some(path.to_path_buf()),
            defaults,
            default_profile: raw.profile,
            profiles: raw.profiles,
            prices: raw.prices,
            readable_by_others: readable_by_others(path),
        })
    }

    /// The profile called `name`, refused with the names there are when it does not exist.
    pub(crate) fn profile(&self, name: &str) -> Result<&Profile, ConfigError> {
        self.profiles.get(name).ok_or_else(|| {
            let known = self.profiles.keys().map(String::as_str).collect::<Vec<_>>().join(", ");
            let file = self.path.as_ref().map_or("no config file".to_string(), |p| p.display().to_string());
            ConfigError::Invalid(if known.is_empty() {
                format!("no profile {name:?}: {file} defines none; `ko2en config init` writes an example")
            } else {
                format!("no profile {name:?} in {file}; it defines {known}")
            })
        })
    }
}

#[cfg(unix)]
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

#[cfg(not(unix))]
fn readable_by_others(_: &Path) -> bool {
    false
}

/// The default location: `$XDG_CONFIG_HOME/ko2en/config.toml` when that variable holds an
/// absolute path, else the platform's config directory.
pub(crate) fn default_path(env: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let xdg = env("XDG_CONFIG_HOME").map(PathBuf::from).filter(|p| p.is_absolute());
    let base = xdg.or_else(dirs::config_dir).or_else(|| dirs::home_dir().map(|h| h.join(".config")))?;
    Some(base.join("ko2en").join("config.toml"))
}

/// What `ko2en config init` writes: every key, commented, and a profile per common setup.
pub(crate) const EXAMPLE: &str = r#"# ko2en's configuration. Precedence: flags > environment > profile > the defaults
# at the top of this file > the provider's preset > built-in defaults.
# `ko2en config show` prints what a run would use and where each value came from.

# The profile used when neither -p/--profile nor KO2EN_PROFILE names one.
# profile = "deepseek"

# Defaults for every run (any flag, without its dashes, with _):
# provider = "openai"          # a preset: ko2en config show --providers lists them
# model = "gpt-4o-mini"
# api_key_env = "OPENAI_API_KEY"   # the variable holding the key...
# api_key_cmd = "pass show openai" # ...or a command that prints it
# rpm = 500
# tpm = 200000
# concurrency = 16
# timeout = 120                # seconds of silence while an answer streams
# stream = false               # whole answers instead (the timeout is then on the whole request)
# glossary = "~/ko2en/glossary.tsv"
# max_cost = 5.0               # US dollars a run may spend at most

# Prices in USD per million tokens, for a model the built-in table lacks or prices
# differently (`ko2en config show` says which price a run uses):
# [prices."qwen-plus"]
# input = 0.40
# cached_input = 0.08          # optional: a prompt prefix the provider reuses
# output = 1.20
# batch_input = 0.20           # optional: the provider's batch API
# batch_output = 0.60

[profiles.deepseek]
provider = "deepseek"          # api.deepseek.com, DEEPSEEK_API_KEY, json_object
model = "deepseek-chat"

[profiles.gemini]
provider = "gemini"            # GEMINI_API_KEY
model = "gemini-2.5-flash"

[profiles.azure]
provider = "azure"             # AZURE_OPENAI_API_KEY, sent as the api-key header
base_url = "https://YOUR-RESOURCE.openai.azure.com"
model = "YOUR-DEPLOYMENT"      # on Azure the model is the deployment's name
api_version = "2024-10-21"

[profiles.local]
provider = "ollama"            # http://localhost:11434/v1, no key needed
model = "qwen2.5:7b"

# Several servers of one model (or one API with keys of separate quotas): each has its own
# limits and concurrency, work goes to whichever has room, and one that fails hands its work
# to the others. --rpm/--tpm/--concurrency then apply to each. The answers are cached as the
# first one's, whichever answered.
[profiles.farm]
provider = "vllm"
model = "Qwen/Qwen2.5-7B-Instruct"
endpoints = ["http://gpu1:8000/v1", "http://gpu2:8000/v1"]
# endpoints = [{ api_key_env = "OPENAI_KEY_TEAM_A" }, { api_key_env = "OPENAI_KEY_TEAM_B" }]
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<ConfigFile, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        ConfigFile::load(&path, true)
    }

    #[test]
    fn the_example_is_a_valid_file_with_its_profiles() {
        let file = load(EXAMPLE).unwrap();
        assert_eq!(
            file.profiles.keys().collect::<Vec<_>>(),
            ["azure", "deepseek", "farm", "gemini", "local"]
        );
        assert_eq!(file.profile("farm").unwrap().endpoints.as_ref().map(Vec::len), Some(2));
        assert_eq!(file.profile("azure").unwrap().api_version.as_deref(), Some("2024-10-21"));
        assert!(file.defaults.model.is_none());
    }

    #[test]
    fn prices_are_read_and_checked() {
        let file = load("[prices.\"qwen-plus\"]\ninput = 0.4\noutput = 1.2\n").unwrap();
        assert_eq!(file.prices["qwen-plus"].output, 1.2);
        let err = load("[prices.m]\ninput = 1\noutptu = 2\n").unwrap_err().to_string();
        assert!(err.contains("outptu"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let err = load("modle = \"x\"\n").unwrap_err().to_string();
        assert!(err.contains("modle"), "{err}");
        let err = load("[profiles.a]\nrmp = 5\n").unwrap_err().to_string();
        assert!(err.contains("rmp"), "{err}");
    }

    #[test]
    fn a_missing_profile_names_those_there_are() {
        let file = load("[profiles.a]\n[profiles.b]\n").unwrap();
        let err = file.profile("c").unwrap_err().to_string();
        assert!(err.contains("a, b"), "{err}");
    }

    #[test]
    fn a_missing_default_file_is_no_file_but_a_named_one_is_an_error() {
        let missing = Path::new("/nonexistent/ko2en/config.toml");
        assert!(ConfigFile::load(missing, false).unwrap().path.is_none());
        assert!(ConfigFile::load(missing, true).is_err());
    }
}
