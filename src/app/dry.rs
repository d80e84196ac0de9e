//! `--dry-run`: the batch run through the pipeline with answers imagined (see `pool::dry`),
//! then what it would send, cost and take, on stdout. Nothing is sent, written or cached.

use std::time::Instant;

use anyhow::Result;
use futures::StreamExt;

use super::{Job, Outcome, say, start};
use crate::config::BatchSettings;
use crate::numbers::thousands;
use crate::pipeline::Mode;
use crate::pool::DryRun;
use crate::price::{Price, Tokens, dollars};

pub(super) async fn dry_run(settings: BatchSettings, mode: Mode) -> Result<Outcome> {
    let started = Instant::now();
    let Job { pipeline, reporter, shutdown, records, mock: _mock } =
        start(&settings, mode, None, false).await?;
    let model = pipeline.pool().client().model().to_string();
    let (articles, unreadable) = records
        .fold((0u64, 0u64), |(n, bad), record| async move {
            // Only an article that cannot be read fails in a dry run: nothing is sent.
            (n + 1, bad + u64::from(record.error.is_some()))
        })
        .await;
    reporter.finish();
    let pool = pipeline.pool();
    let counted = pool.dry_run().expect("a dry run counts");
    let whole = pool.cache().map(|c| c.run_stats(0).articles_hit);
    say!(
        "{}",
        render(articles, unreadable, whole, &counted, pool.price(), &model, started.elapsed()).trim_end()
    );
    Ok(if shutdown.why().is_some() { Outcome::Interrupted } else { Outcome::Success })
}

/// The report: what the run would send, cost and take.
fn render(
    articles: u64,
    unreadable: u64,
    whole: Option<u64>,
    run: &DryRun,
    price: Option<Price>,
    model: &str,
    took: std::time::Duration,
) -> String {
    let mut out = format!(
        "dry run, nothing sent ({:.1} s): {} article{}",
        took.as_secs_f64(),
        thousands(articles),
        if articles == 1 { "" } else { "s" }
    );
    if let Some(whole) = whole.filter(|n| *n > 0) {
        out.push_str(&format!(", {} of them whole from the cache", thousands(whole)));
    }
    if unreadable > 0 {
        out.push_str(&format!(", {} that cannot be read", thousands(unreadable)));
    }
    out.push('\n');
    let cached = if run.from_cache > 0 {
        format!(" (and {} answers from the cache, or asked twice)", thousands(run.from_cache))
    } else {
        String::new()
    };
    out.push_str(&format!("requests     {}{cached}\n", thousands(run.requests)));
    out.push_str(&format!(
        "prompt       {} tokens, counted as they would be sent\n",
        thousands(run.prompt_tokens)
    ));
    out.push_str(&format!(
        "completion   about {} tokens, at most {} (the budgets the requests would ask for)\n",
        thousands(run.completion_expected),
        thousands(run.completion_most)
    ));
    match price {
        Some(price) => {
            let cost = |completion| price.cost(Tokens { prompt: run.prompt_tokens, cached: 0, completion });
            out.push_str(&format!(
                "cost         {} to {} at {model}'s price ({} in, {} out per million tokens)",
                dollars(cost(run.completion_expected)),
                dollars(cost(run.completion_most)),
                dollars(price.input),
                dollars(price.output)
            ));
            if let (Some(input), Some(output)) = (price.batch_input, price.batch_output) {
                let batch = Price { input, output, cached_input: None, ..price };
                let low = batch.cost(Tokens {
                    prompt: run.prompt_tokens,
                    cached: 0,
                    completion: run.completion_expected,
                });
                out.push_str(&format!("; about {} through the batch API", dollars(low)));
            }
            out.push('\n');
        }
        None => out.push_str(&format!(
            "cost         unknown: {model} has no price (add [prices.\"{model}\"] to the config file)\n"
        )),
    }
    match run.minutes() {
        Some(minutes) => {
            let limits: Vec<String> = [(run.rpm, "RPM"), (run.tpm, "TPM")]
                .into_iter()
                .filter_map(|(limit, name)| limit.map(|n| format!("{} {name}", thousands(n))))
                .collect();
            out.push_str(&format!(
                "time         at least {} at {}\n",
                duration(minutes),
                limits.join(" and ")
            ));
        }
        None => out.push_str(
            "time         no limits known (give --rpm/--tpm, or run once): as fast as the endpoint answers\n",
        ),
    }
    out
}

/// Minutes as people read a wait.
fn duration(minutes: f64) -> String {
    if minutes < 1.0 {
        format!("{:.0} s", (minutes * 60.0).ceil())
    } else if minutes < 120.0 {
        format!("{minutes:.1} min")
    } else {
        format!("{:.1} h", minutes / 60.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_gives_a_cost_range_and_the_time_the_limits_imply() {
        let run = DryRun {
            requests: 2_000,
            prompt_tokens: 2_000_000,
            completion_expected: 500_000,
            completion_most: 1_500_000,
            from_cache: 10,
            rpm: Some(500),
            tpm: Some(200_000),
        };
        let price = crate::price::PriceTable::default().lookup("gpt-4o-mini");
        let text = render(1_000, 0, Some(3), &run, price, "gpt-4o-mini", std::time::Duration::from_secs(2));
        // 2M × 0.15 + 0.5M × 0.60 = $0.60; with 1.5M out, $1.20; batch: half of $0.60.
        assert!(text.contains("cost         $0.60 to $1.20 at gpt-4o-mini's price"), "{text}");
        assert!(text.contains("about $0.30 through the batch API"), "{text}");
        // 3.5M tokens at 200k a minute: 17.5 min (2,000 requests at 500 RPM would take 4).
        assert!(text.contains("time         at least 17.5 min at 500 RPM and 200,000 TPM"), "{text}");
        assert!(text.contains("1,000 articles, 3 of them whole from the cache"), "{text}");
        let unknown =
            render(1, 0, None, &DryRun { rpm: None, tpm: None, ..run }, None, "qwen", Default::default());
        assert!(
            unknown.contains("unknown: qwen has no price") && unknown.contains("no limits known"),
            "{unknown}"
        );
    }
}
