//! Unit tests of settings resolution.

use super::*;
use clap::Parser;
use std::num::NonZeroU32;
use std::time::Duration;

use crate::limiter::Budget;

/// The routes' base URLs, and their keys as sent.
fn routes(target: &Target) -> Vec<(&str, Option<&str>)> {
    let Target::Routes(routes) = target else { panic!("routes expected, not the mock") };
    routes.iter().map(|r| (r.base_url.as_str(), r.api_key.as_ref().map(ApiKey::expose))).collect()
}

fn resolve(args: &[&str], vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let cli = Cli::try_parse_from(std::iter::once("ko2en").chain(args.iter().copied())).unwrap();
    // No config file unless a test names one: the developer's own must not leak in.
    let mut vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    vars.push(("XDG_CONFIG_HOME".into(), "/nonexistent/ko2en-tests".into()));
    Settings::resolve(cli, |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
}

#[test]
fn a_missing_key_says_which_variable_to_set() {
    let err = resolve(&["summarize", "x.txt"], &[]).unwrap_err();
    assert!(matches!(err, ConfigError::MissingKey { .. }));
    assert!(err.to_string().contains("OPENAI_API_KEY"));
}

#[test]
fn the_key_comes_from_the_named_variable_and_never_prints() {
    let settings =
        resolve(&["summarize", "x.txt", "--api-key-env", "MY_KEY"], &[("MY_KEY", "sk-secret")]).unwrap();
    let Settings::Summarize(s) = settings else { panic!("summarize expected") };
    assert_eq!(routes(&s.target)[0].1, Some("sk-secret"));
    assert!(!format!("{s:?}").contains("sk-secret"));
}

#[test]
fn mock_needs_no_key_and_the_model_has_a_default() {
    let Settings::Summarize(s) = resolve(&["summarize", "x.txt", "--mock"], &[]).unwrap() else {
        panic!("summarize expected")
    };
    assert!(matches!(s.target, Target::Mock(_)));
    assert_eq!(s.endpoint.model, crate::mock::MOCK_MODEL);
    let Settings::Summarize(s) = resolve(&["summarize", "x.txt"], &[("OPENAI_API_KEY", "k")]).unwrap() else {
        panic!("summarize expected")
    };
    assert_eq!(s.endpoint.model, DEFAULT_MODEL);
}

#[test]
fn a_small_token_budget_shrinks_the_chunks_to_fit() {
    let limits = chunk_limits(None, NonZeroU32::new(4_000)).unwrap();
    assert_eq!(limits, ChunkLimits { summary_tokens: 1_500, translation_tokens: 900 });
    assert_eq!(chunk_limits(None, None).unwrap(), ChunkLimits::default());
    assert!(chunk_limits(None, NonZeroU32::new(1_000)).is_err());
}

#[test]
fn mock_opts_become_the_same_options_as_mock_server_flags() {
    let Settings::Summarize(s) = resolve(
        &[
            "summarize",
            "x",
            "--mock",
            "--mock-opt",
            "rpm=60",
            "--mock-opt",
            "fail-rate=0.1",
            "--mock-opt",
            "hang-s=5",
        ],
        &[],
    )
    .unwrap() else {
        panic!("summarize expected")
    };
    let Settings::MockServer(server) =
        resolve(&["mock-server", "--rpm", "60", "--fail-rate", "0.1", "--hang-s", "5"], &[]).unwrap()
    else {
        panic!("mock-server expected")
    };
    let Target::Mock(options) = s.target else { panic!("--mock is the mock target") };
    assert_eq!(*options, server.options);
    assert_eq!(server.options.rpm, Some(60));
    assert_eq!(server.options.hang, Duration::from_secs(5));
}

#[test]
fn bad_mock_opts_say_what_is_wrong() {
    let message = |args: &[&str]| resolve(args, &[]).unwrap_err().to_string();
    assert!(message(&["summarize", "x", "--mock", "--mock-opt", "rmp=60"]).contains("unknown key \"rmp\""));
    assert!(message(&["summarize", "x", "--mock", "--mock-opt", "rpm"]).contains("KEY=VALUE"));
    assert!(message(&["summarize", "x", "--mock", "--mock-opt", "rpm=lots"]).contains("whole number"));
    assert!(message(&["summarize", "x", "--mock", "--mock-opt", "drop-rate=2"]).contains("between 0 and 1"));
    assert!(message(&["summarize", "x", "--mock-opt", "rpm=1"]).contains("only applies with --mock"));
    assert!(message(&["mock-server", "--tpm", "0"]).contains("at least 1"));
}

#[test]
fn a_broken_glossary_is_a_configuration_error_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.tsv");
    std::fs::write(&path, "박정호\tPark Jung-ho\n삼성전자\n").unwrap();
    let err = resolve(&["summarize", "x", "--mock", "--glossary", path.to_str().unwrap()], &[]).unwrap_err();
    assert!(err.to_string().contains("g.tsv:2:"), "{err}");
    std::fs::write(&path, "박정호\tPark Jung-ho\n").unwrap();
    let Settings::Summarize(s) =
        resolve(&["summarize", "x", "--mock", "--glossary", path.to_str().unwrap(), "--no-clean"], &[])
            .unwrap()
    else {
        panic!("summarize expected")
    };
    assert_eq!((s.article.glossary.len(), s.article.clean, s.article.strict), (1, false, false));
}

#[test]
fn the_cache_lives_in_xdg_cache_home_unless_named_or_refused() {
    let run = |args: &[&str], vars: &[(&str, &str)]| match resolve(args, vars).unwrap() {
        Settings::Summarize(s) => s.run.cache,
        _ => panic!("summarize expected"),
    };
    let default = run(&["summarize", "x", "--mock"], &[("XDG_CACHE_HOME", "/tmp/xdg")]);
    assert_eq!(default.path, Some(PathBuf::from("/tmp/xdg/ko2en/cache.sqlite")));
    let named = run(&["summarize", "x", "--mock", "--cache", "c.sqlite", "--refresh"], &[]);
    assert_eq!(named, CacheSettings { path: Some("c.sqlite".into()), refresh: true });
    assert_eq!(run(&["summarize", "x", "--mock", "--no-cache"], &[]).path, None);
}

#[test]
fn default_concurrency_keeps_a_known_budget_busy_within_bounds() {
    let budget = |rpm: Option<u32>, tpm: Option<u32>| Budget {
        rpm: rpm.and_then(NonZeroU32::new),
        tpm: tpm.and_then(NonZeroU32::new),
    };
    assert_eq!(PoolSettings::default_concurrency(budget(None, None)), 16);
    assert_eq!(PoolSettings::default_concurrency(budget(Some(30), None)), 16, "never below the floor");
    assert_eq!(PoolSettings::default_concurrency(budget(Some(300), None)), 100, "300/min at 20 s each");
    assert_eq!(PoolSettings::default_concurrency(budget(Some(5_000), None)), 256, "capped");
    assert_eq!(
        PoolSettings::default_concurrency(budget(Some(5_000), Some(900_000))),
        100,
        "TPM binds: 300/min"
    );
    let run = |args: &[&str]| match resolve(args, &[]).unwrap() {
        Settings::Summarize(s) => s.run.pool.concurrency,
        _ => unreachable!(),
    };
    assert_eq!(run(&["summarize", "x", "--mock", "--rpm", "600"]), 200);
    assert_eq!(run(&["summarize", "x", "--mock", "--rpm", "600", "--concurrency", "8"]), 8, "the flag wins");
}

#[test]
fn zero_concurrency_is_a_configuration_error() {
    let err = resolve(&["summarize", "x", "--mock", "--concurrency", "0"], &[]).unwrap_err();
    assert!(err.to_string().contains("--concurrency"));
}

#[test]
fn the_environment_comes_only_through_the_lookup_and_a_flag_beats_it() {
    let vars =
        [("OPENAI_API_KEY", "k"), ("OPENAI_BASE_URL", "http://env:1/v1/"), ("KO2EN_MODEL", "env-model")];
    let Settings::Summarize(s) = resolve(&["summarize", "x"], &vars).unwrap() else {
        panic!("summarize expected")
    };
    assert_eq!(routes(&s.target), [("http://env:1/v1", Some("k"))]);
    assert_eq!(s.endpoint.model, "env-model");
    let Settings::Summarize(s) =
        resolve(&["summarize", "x", "--base-url", "http://flag:2/v1", "--model", "flag-model"], &vars)
            .unwrap()
    else {
        panic!("summarize expected")
    };
    assert_eq!(routes(&s.target), [("http://flag:2/v1", Some("k"))]);
    assert_eq!(s.endpoint.model, "flag-model");
    // Nothing from the process environment: with an empty lookup, the defaults.
    let Settings::Summarize(s) = resolve(&["summarize", "x"], &[("OPENAI_API_KEY", "k")]).unwrap() else {
        panic!("summarize expected")
    };
    assert_eq!(routes(&s.target), [("https://api.openai.com/v1", Some("k"))]);
    assert_eq!(s.endpoint.model, DEFAULT_MODEL);
}

#[test]
fn servers_on_this_machine_or_the_lan_are_local() {
    for url in [
        "http://localhost:8080/v1",
        "http://127.0.0.1:11434/v1",
        "http://[::1]:8000/v1",
        "http://192.168.1.20:8000/v1",
        "http://10.0.0.5/v1",
        "http://gpu-box.local:1234/v1",
        "http://user:pw@172.16.3.4:8000/v1",
        "http://host.docker.internal:11434/v1",
    ] {
        assert!(is_local(url), "{url}");
    }
    for url in [
        "https://api.openai.com/v1",
        "https://8.8.8.8/v1",
        "http://172.32.0.1/v1",
        "https://localhost.example.com/v1",
    ] {
        assert!(!is_local(url), "{url}");
    }
}

#[test]
fn several_base_urls_are_several_routes_with_the_key_for_all_or_one_each() {
    let vars = [("OPENAI_API_KEY", "k"), ("KEY_A", "ka"), ("KEY_B", "kb")];
    let target = |args: &[&str]| {
        let mut all = vec!["summarize", "x"];
        all.extend_from_slice(args);
        match resolve(&all, &vars) {
            Ok(Settings::Summarize(s)) => Ok(s.target),
            Ok(_) => panic!("summarize expected"),
            Err(e) => Err(e.to_string()),
        }
    };
    let t = target(&["--base-url", "http://a:1/v1, http://b:2/v1/"]).unwrap();
    assert_eq!(routes(&t), [("http://a:1/v1", Some("k")), ("http://b:2/v1", Some("k"))]);
    let t = target(&[
        "--base-url",
        "http://a:1/v1",
        "--base-url",
        "http://b:2/v1",
        "--api-key-env",
        "KEY_A,KEY_B",
    ])
    .unwrap();
    assert_eq!(routes(&t), [("http://a:1/v1", Some("ka")), ("http://b:2/v1", Some("kb"))], "paired in order");
    // One URL and two keys: two routes to it, keys of separate quotas.
    let t = target(&["--base-url", "http://a:1/v1", "--api-key-env", "KEY_A,KEY_B"]).unwrap();
    assert_eq!(routes(&t), [("http://a:1/v1", Some("ka")), ("http://a:1/v1", Some("kb"))]);
    let err =
        target(&["--base-url", "http://a:1/v1,http://b:2/v1,http://c:3/v1", "--api-key-env", "KEY_A,KEY_B"])
            .unwrap_err();
    assert!(err.contains("3 base URLs and 2 key variables"), "{err}");
    let err = target(&["--base-url", "http://a:1/v1,http://a:1/v1"]).unwrap_err();
    assert!(err.contains("listed twice"), "{err}");
    let err = target(&["--base-url", "http://a:1/v1", "--api-key-env", "KEY_A,KEY_MISSING"]).unwrap_err();
    assert!(err.contains("KEY_MISSING"), "a route's missing key is named: {err}");
}

#[test]
fn a_profile_lists_endpoints_each_with_its_own_key_or_the_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(
        &path,
        r#"
[profiles.farm]
endpoints = ["http://gpu1:8000/v1", { base_url = "http://gpu2:8000/v1", api_key_env = "GPU2_KEY" }]
api_key_env = "FARM_KEY"

[profiles.quotas]
endpoints = [{ api_key_env = "TEAM_A" }, { api_key_env = "TEAM_B" }]

[profiles.both]
base_url = "http://a/v1"
endpoints = ["http://b/v1"]
"#,
    )
    .unwrap();
    let config = path.to_str().unwrap();
    let vars = [
        ("KO2EN_CONFIG", config),
        ("FARM_KEY", "farm"),
        ("GPU2_KEY", "gpu2"),
        ("TEAM_A", "a"),
        ("TEAM_B", "b"),
    ];
    let target = |profile: &str| match resolve(&["summarize", "x", "-p", profile], &vars) {
        Ok(Settings::Summarize(s)) => Ok(s.target),
        Ok(_) => panic!("summarize expected"),
        Err(e) => Err(e.to_string()),
    };
    assert_eq!(
        routes(&target("farm").unwrap()),
        [("http://gpu1:8000/v1", Some("farm")), ("http://gpu2:8000/v1", Some("gpu2"))]
    );
    // No URL: the provider's, once per key.
    assert_eq!(
        routes(&target("quotas").unwrap()),
        [("https://api.openai.com/v1", Some("a")), ("https://api.openai.com/v1", Some("b"))]
    );
    let err = target("both").unwrap_err();
    assert!(err.contains("both base_url and endpoints"), "{err}");
    // A flag's URLs beat the profile's endpoints.
    let Ok(Settings::Summarize(s)) =
        resolve(&["summarize", "x", "-p", "farm", "--base-url", "http://flag:1/v1"], &vars)
    else {
        panic!("summarize expected")
    };
    assert_eq!(routes(&s.target), [("http://flag:1/v1", Some("farm"))]);
}
