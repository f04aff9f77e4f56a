//! Fuzz target of the server's configuration from outside: every `PADDOCK_*` environment
//! variable (found through clap, so a new one is fuzzed without editing this file) with random
//! and awkward values, plus a mutated zoo.cfg behind `--config`, through the real flag parsing
//! and `config::load`. Anything may be refused, with an error; nothing may panic. The values go
//! in as the flags the variables are bound to: clap gives both the same parser, and setting the
//! process environment from a multi-threaded test is unsound. `PADDOCK_FUZZ_CASES` /
//! `PADDOCK_FUZZ_SEED` (see `paddock-fuzz`); `make fuzz` runs them long.

use clap::{CommandFactory, Parser};
use paddock_fuzz::{config_costly, config_value, mutated};
use paddock_node::args::Args;
use paddock_node::config::load;
use proptest::prelude::*;

/// `(variable, --flag)` of every argument bound to an environment variable.
fn variables() -> Vec<(String, String)> {
    Args::command()
        .get_arguments()
        .filter_map(|a| {
            let var = a.get_env()?.to_string_lossy().into_owned();
            Some((var, format!("--{}", a.get_long()?)))
        })
        .collect()
}

/// What a variable usually holds: a server list, a `KEY=VALUE;...` list, or a number (every
/// other variable takes a number, a word or a path, and refuses the rest early).
fn typical(flag: &str) -> BoxedStrategy<String> {
    match flag {
        "--servers" => proptest::collection::vec(
            (
                prop_oneof![Just("server.".to_string()), Just(String::new())],
                prop_oneof![0u64..300, any::<u64>()].prop_map(|n| n.to_string()),
                prop_oneof![Just("99999999999999999999".to_string()), "[0-9]{0,3}"],
                "[a-z]{1,3}:[0-9]{1,5}:[0-9]{1,5}(:observer|:participant|;[0-9]{1,5}|)",
            ),
            0..4,
        )
        .prop_map(|entries| {
            entries
                .into_iter()
                .map(|(prefix, id, alt, addr)| {
                    let id = if alt.is_empty() { id } else { alt };
                    format!("{prefix}{id}={addr}")
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .boxed(),
        "--set-list" => proptest::collection::vec(
            (
                prop::sample::select(vec![
                    "tickTime",
                    "initLimit",
                    "syncLimit",
                    "maxClientCnxns",
                    "server.2",
                    "4lw.commands.whitelist",
                    "reconfigEnabled",
                    "jute.maxbuffer",
                ]),
                config_value(),
            ),
            0..4,
        )
        .prop_map(|kv| {
            kv.into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(";")
        })
        .boxed(),
        _ => prop_oneof![0u64..70_000, any::<u64>()]
            .prop_map(|n| n.to_string())
            .boxed(),
    }
}

/// Up to four different variables (clap refuses a flag given twice), each with a value,
/// mostly one of its kind, so that one bad value does not hide the others' parsing.
fn flags_and_values() -> impl Strategy<Value = Vec<(String, String)>> {
    let flags: Vec<String> = variables().into_iter().map(|(_, flag)| flag).collect();
    proptest::sample::subsequence(flags, 0..=4).prop_flat_map(|flags| {
        flags
            .into_iter()
            .map(|flag| {
                let value = prop_oneof![3 => typical(&flag), 1 => config_value().boxed()];
                (Just(flag), value)
            })
            .collect::<Vec<_>>()
    })
}

const ZOO_CFG: &str = "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/tmp/never-written\n\
clientPort=0\nserver.1=127.0.0.1:2888:3888;2181\nserver.2=127.0.0.1:2889:3889:observer\n";

proptest! {
    #![proptest_config(config_costly(1000, 5))]

    #[test]
    fn environment_and_zoo_cfg_never_panic(
        picks in flags_and_values(),
        file in proptest::option::of(mutated(vec![ZOO_CFG.as_bytes().to_vec()])),
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut argv = vec!["paddock".to_string()];
        for (flag, value) in picks {
            argv.push(format!("{flag}={value}"));
        }
        if let Some(bytes) = file {
            let path = dir.path().join("zoo.cfg");
            std::fs::write(&path, bytes).expect("write the case");
            argv.push(format!("--config={}", path.display()));
        }
        if let Ok(args) = Args::try_parse_from(&argv) {
            let _ = load(&args);
        }
    }
}

#[test]
fn the_variables_are_found() {
    let vars = variables();
    for v in [
        "PADDOCK_SERVERS",
        "PADDOCK_SET",
        "PADDOCK_MY_ID",
        "PADDOCK_CONFIG",
    ] {
        assert!(vars.iter().any(|(var, _)| var == v), "{v} in {vars:?}");
    }
}
