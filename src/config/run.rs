//! How a job runs, resolved from flags and layers: the pool (concurrency, limits, retries,
//! completion budgets), chunk sizes, the model's price and the spending cap, the cache, the
//! output; the settings of `RunSettings`.

use std::num::NonZeroU32;
use std::path::PathBuf;

use super::layers::{Layers, Origin};
use super::output::{destination, resolve_format, source_date_epoch};
use super::{ConfigError, RunSettings};
use crate::cache::CacheSettings;
use crate::chunk::{ChunkLimits, Encoding};
use crate::cli;
use crate::client::RetryPolicy;
use crate::limiter::Budget;
use crate::output::{Format, OutputSettings};
use crate::pool::PoolSettings;
use crate::price::{Price, PriceTable};
use crate::sizing::BudgetRule;

/// The price of `model`: the config file's `[prices]`, else the built-in table. Without one a
/// run shows tokens only, and `--max-cost` (`max_cost`) has nothing to count in: refused.
pub(super) fn price_of(
    model: &str,
    layers: &Layers,
    max_cost: Option<f64>,
) -> Result<Option<Price>, ConfigError> {
    let table = PriceTable::new(layers.file.prices.clone());
    let price = table.lookup(model);
    let origin = if layers.file.prices.contains_key(model) { Origin::File } else { Origin::Default };
    match price {
        Some(p) => layers.show(
            "price",
            format!(
                "{} in, {} out per million tokens{}",
                crate::price::dollars(p.input),
                crate::price::dollars(p.output),
                if origin == Origin::Default {
                    format!(" (built-in, checked {})", crate::price::PRICES_CHECKED)
                } else {
                    String::new()
                }
            ),
            origin,
        ),
        None => layers.show("price", format!("unknown for {model}: tokens only"), Origin::Default),
    }
    if price.is_none() && max_cost.is_some() {
        return Err(ConfigError::Invalid(format!(
            "--max-cost needs the price of {model}, which ko2en does not know: add [prices.\"{model}\"] with input and output (USD per million tokens) to the config file"
        )));
    }
    Ok(price)
}

/// `$XDG_CACHE_HOME/ko2en/cache.sqlite` when that variable holds an absolute path, else the
/// platform's cache directory (`~/.cache` on Linux).
pub(crate) fn default_cache_path(env: &impl Fn(&str) -> Option<String>) -> Result<PathBuf, ConfigError> {
    let xdg = env("XDG_CACHE_HOME").map(PathBuf::from).filter(|p| p.is_absolute());
    let base = xdg
        .or_else(dirs::cache_dir)
        .or_else(|| dirs::home_dir().map(|home| home.join(".cache")))
        .ok_or_else(|| {
            ConfigError::Invalid(
                "cannot find a cache directory (no home directory): pass --cache PATH or --no-cache".into(),
            )
        })?;
    Ok(base.join("ko2en").join("cache.sqlite"))
}

pub(super) fn resolve_cache(args: cli::CacheArgs, layers: &Layers) -> Result<CacheSettings, ConfigError> {
    let no_cache = layers.switch("no cache", args.no_cache, |p| p.no_cache);
    let path = match (no_cache, layers.pick(args.cache, |p| p.cache.clone())) {
        (true, _) => None,
        (false, Some(path)) => Some(layers.path(path)),
        (false, None) => Some(default_cache_path(&layers.env)?),
    };
    if let Some(path) = &path {
        layers.show("cache", path.display(), Origin::Default);
    }
    Ok(CacheSettings { path, refresh: args.refresh })
}

/// `local`: the endpoint runs on this machine or the LAN (see [`is_local`]).
pub(super) fn resolve_run(
    args: cli::RunArgs,
    format: Format,
    local: bool,
    layers: &Layers,
) -> Result<RunSettings, ConfigError> {
    let format = resolve_format(args.format, args.csv_no_bom, args.output.as_deref(), format)?;
    let concurrency = layers.pick(args.concurrency, |p| p.concurrency);
    if concurrency.as_ref().is_some_and(|(c, _)| *c == 0) {
        return Err(ConfigError::Invalid("--concurrency must be at least 1".into()));
    }
    let max_attempts = layers.pick(args.max_attempts, |p| p.max_attempts).unwrap_or((6, Origin::Default));
    if max_attempts.0 == 0 {
        return Err(ConfigError::Invalid("--max-attempts must be at least 1".into()));
    }
    let positive = |flag: &str, value: Option<(u32, Origin)>| match value {
        None => Ok(None),
        Some((v, origin)) => {
            layers.show(if flag == "--rpm" { "rpm" } else { "tpm" }, v, origin);
            NonZeroU32::new(v).map(Some).ok_or_else(|| {
                ConfigError::Invalid(format!("{flag} must be at least 1 (leave it out for no limit)"))
            })
        }
    };
    let budget = Budget {
        rpm: positive("--rpm", layers.pick(args.rpm, |p| p.rpm))?,
        tpm: positive("--tpm", layers.pick(args.tpm, |p| p.tpm))?,
    };
    let encoding = match layers.pick_text(args.encoding, None, |p| p.encoding.clone()) {
        None => None,
        Some((name, _)) => Some(Encoding::parse(&name).ok_or_else(|| {
            ConfigError::Invalid(format!("--encoding {name:?} is not known; use o200k_base or cl100k_base"))
        })?),
    };
    let chunk_limits =
        chunk_limits(layers.pick(args.max_chunk_tokens, |p| p.max_chunk_tokens).map(|(n, _)| n), budget.tpm)?;
    let prompts_dir = layers.pick(args.prompts, |p| p.prompts.clone()).map(|p| layers.path(p));
    if let Some(dir) = &prompts_dir
        && !dir.is_dir()
    {
        return Err(ConfigError::Invalid(format!("--prompts {} is not a directory", dir.display())));
    }
    let (concurrency, pinned) = match concurrency {
        Some((c, origin)) => {
            layers.show("concurrency", c, origin);
            (c, true)
        }
        None => {
            let c = PoolSettings::starting_concurrency(budget, local);
            let how = if budget.rpm.is_none() && budget.tpm.is_none() {
                "adapting to the limits the server announces, or else to its latency"
            } else {
                "growing with the limits the server announces"
            };
            layers.show("concurrency", format!("{c}, {how}"), Origin::Default);
            (c, false)
        }
    };
    layers.show("max attempts", max_attempts.0, max_attempts.1);
    let budgets = match layers.pick_text(args.completion_budget, None, |p| p.completion_budget.clone()) {
        None => {
            layers.show("completion budget", "auto", Origin::Default);
            BudgetRule::Sized
        }
        Some((value, origin)) => {
            let rule = match value.as_str() {
                "auto" => BudgetRule::Sized,
                "fixed" => BudgetRule::Fixed,
                n => match n.parse::<u32>() {
                    Ok(n) if n >= 16 => BudgetRule::Pinned(n),
                    _ => {
                        return Err(ConfigError::Invalid(format!(
                            "--completion-budget ({origin}) takes auto, fixed or a number of tokens (at least 16), got {value:?}"
                        )));
                    }
                },
            };
            layers.show("completion budget", &value, origin);
            rule
        }
    };
    let max_cost = match layers.pick(args.max_cost, |p| p.max_cost) {
        Some((usd, _)) if !(usd > 0.0 && usd.is_finite()) => {
            return Err(ConfigError::Invalid(format!(
                "--max-cost is an amount of US dollars above 0, not {usd}"
            )));
        }
        Some((usd, origin)) => {
            layers.show("max cost", crate::price::dollars(usd), origin);
            Some(usd)
        }
        None => None,
    };
    Ok(RunSettings {
        dry_run: args.dry_run,
        output: OutputSettings {
            destination: destination(args.output),
            format,
            source_date_epoch: source_date_epoch(layers),
        },
        prompts_dir,
        pool: PoolSettings {
            concurrency,
            pinned,
            budget,
            retry: RetryPolicy { max_attempts: max_attempts.0, ..RetryPolicy::default() },
            budgets,
            // Priced, and imagined under --dry-run, once the model and target are known.
            price: None,
            max_cost,
            dry: None,
        },
        chunk_limits,
        encoding,
        quiet: args.quiet,
        cache: resolve_cache(args.cache, layers)?,
        notices: Vec::new(),
    })
}

/// The smallest `--max-chunk-tokens`: each request also carries several hundred tokens of
/// instructions.
const MIN_CHUNK_TOKENS: usize = 200;

/// Chunk sizes: the flag for both kinds of request, else the defaults — shrunk when a small
/// tokens-per-minute budget could never hold a request of the default size.
pub(super) fn chunk_limits(flag: Option<usize>, tpm: Option<NonZeroU32>) -> Result<ChunkLimits, ConfigError> {
    let defaults = ChunkLimits::default();
    let mut limits = match flag {
        Some(n) if n < MIN_CHUNK_TOKENS => {
            return Err(ConfigError::Invalid(format!(
                "--max-chunk-tokens must be at least {MIN_CHUNK_TOKENS}: smaller pieces spend more on \
                 instructions than on the article, and multiply the requests"
            )));
        }
        Some(n) => ChunkLimits { summary_tokens: n, translation_tokens: n },
        None => defaults,
    };
    if let Some(tpm) = tpm {
        // A request costs its chunk, the instructions (under 1,000 tokens) and its completion
        // budget: 1,500 for a summary, about twice the chunk for a translation.
        let tpm = tpm.get() as usize;
        let summary_fit = tpm.saturating_sub(2_500);
        let translation_fit = tpm.saturating_sub(1_300) / 3;
        if summary_fit < 100 || translation_fit < 100 {
            return Err(ConfigError::Invalid(format!(
                "--tpm {tpm} is too small to send one request; at least 3,000 tokens per minute are needed"
            )));
        }
        limits.summary_tokens = limits.summary_tokens.min(summary_fit);
        limits.translation_tokens = limits.translation_tokens.min(translation_fit);
    }
    Ok(limits)
}
