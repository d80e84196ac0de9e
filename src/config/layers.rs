//! The sources a setting can come from, in precedence order, and a record of which one each
//! value came from (for `ko2en config show`). Precedence, written once:
//!
//! flag > environment variable > profile > the config file's top level > provider preset > built-in default.

use std::cell::RefCell;
use std::fmt;
use std::path::{Path, PathBuf};

use super::ConfigError;
use super::file::{ConfigFile, Profile};

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    Flag,
    Env(&'static str),
    Profile(String),
    File,
    Preset(&'static str),
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag => f.write_str("flag"),
            Origin::Env(var) => write!(f, "${var}"),
            Origin::Profile(name) => write!(f, "profile {name}"),
            Origin::File => f.write_str("config file"),
            Origin::Preset(name) => write!(f, "{name} preset"),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// One line of `ko2en config show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shown {
    pub(crate) key: &'static str,
    pub(crate) value: String,
    pub(crate) origin: Origin,
}

/// The config file, the profile chosen in it, and the environment.
pub(crate) struct Layers<'a> {
    pub(crate) env: &'a dyn Fn(&str) -> Option<String>,
    pub(crate) file: ConfigFile,
    pub(crate) profile: Option<(String, Profile)>,
    shown: RefCell<Vec<Shown>>,
    /// Things the user should hear about before the run (a key in a file others can read).
    pub(crate) notices: RefCell<Vec<String>>,
}

impl<'a> Layers<'a> {
    /// Read the config file (`--config`, else `KO2EN_CONFIG`, else the default location) and
    /// pick its profile (`-p`, else `KO2EN_PROFILE`, else the file's `profile`).
    pub(crate) fn load(
        config: Option<PathBuf>,
        profile: Option<String>,
        env: &'a dyn Fn(&str) -> Option<String>,
    ) -> Result<Layers<'a>, ConfigError> {
        let named =
            config.or_else(|| env("KO2EN_CONFIG").filter(|v| !v.trim().is_empty()).map(PathBuf::from));
        let file = match &named {
            Some(path) => ConfigFile::load(path, true)?,
            None => match super::file::default_path(&env) {
                Some(path) => ConfigFile::load(&path, false)?,
                None => ConfigFile::default(),
            },
        };
        let name = profile
            .or_else(|| env("KO2EN_PROFILE").filter(|v| !v.trim().is_empty()))
            .or_else(|| file.default_profile.clone());
        let profile = match name {
            Some(name) => Some((name.clone(), file.profile(&name)?.clone())),
            None => None,
        };
        Ok(Layers { env, file, profile, shown: RefCell::default(), notices: RefCell::default() })
    }

    /// The value the profile, else the file's top level, gives, and from which.
    pub(crate) fn configured<T>(&self, get: impl Fn(&Profile) -> Option<T>) -> Option<(T, Origin)> {
        let from_profile =
            self.profile.as_ref().and_then(|(name, p)| Some((get(p)?, Origin::Profile(name.clone()))));
        from_profile.or_else(|| Some((get(&self.file.defaults)?, Origin::File)))
    }

    /// A flag's value, else the variable's (blank counts as absent), else the configured one.
    pub(crate) fn pick_text(
        &self,
        flag: Option<String>,
        var: Option<&'static str>,
        get: impl Fn(&Profile) -> Option<String>,
    ) -> Option<(String, Origin)> {
        let clean = |v: String| Some(v.trim().to_string()).filter(|v| !v.is_empty());
        flag.and_then(clean)
            .map(|v| (v, Origin::Flag))
            .or_else(|| var.and_then(|var| Some(((self.env)(var).and_then(clean)?, Origin::Env(var)))))
            .or_else(|| self.configured(get).and_then(|(v, o)| Some((clean(v)?, o))))
    }

    /// A flag's value, else the configured one.
    pub(crate) fn pick<T>(
        &self,
        flag: Option<T>,
        get: impl Fn(&Profile) -> Option<T>,
    ) -> Option<(T, Origin)> {
        flag.map(|v| (v, Origin::Flag)).or_else(|| self.configured(get))
    }

    /// A switch: on when the flag is given, else as configured.
    pub(crate) fn switch(
        &self,
        key: &'static str,
        flag: bool,
        get: impl Fn(&Profile) -> Option<bool>,
    ) -> bool {
        let (on, origin) = if flag {
            (true, Origin::Flag)
        } else {
            self.configured(get).unwrap_or((false, Origin::Default))
        };
        self.show(key, on, origin);
        on
    }

    /// A path from the config file is relative to the file's directory, and `~/` is home.
    pub(crate) fn path(&self, (path, origin): (PathBuf, Origin)) -> PathBuf {
        if matches!(origin, Origin::Flag | Origin::Env(_)) {
            return path;
        }
        if let Ok(rest) = path.strip_prefix("~")
            && let Some(home) = dirs::home_dir()
        {
            return home.join(rest);
        }
        match self.file.path.as_deref().and_then(Path::parent) {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path,
        }
    }

    pub(crate) fn show(&self, key: &'static str, value: impl fmt::Display, origin: Origin) {
        self.shown.borrow_mut().push(Shown { key, value: value.to_string(), origin });
    }

    pub(crate) fn into_shown(self) -> (Vec<Shown>, Vec<String>) {
        (self.shown.into_inner(), self.notices.into_inner())
    }
}
