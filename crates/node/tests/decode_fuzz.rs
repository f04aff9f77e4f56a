//! Fuzz target of the server's configuration from outside: every `PADDOCK_*` environment
//! variable (found through clap, so a new one is fuzzed without editing this file) with random
//! and awkward values, plus a mutated zoo.cfg behind `--config`, through the real flag parsing
//! and `config::load`. Anything may be refused, with an error; nothing may panic. The values go
//! in as the flags the variables are bound to: clap gives both the same parser, and setting the
//! process environment from a multi-threaded test is unsound. `PADDOCK_FUZZ_CASES` /
//! `PADDOCK_FUZZ_SEED` (see `paddock-fuzz`); `make fuzz` runs them long.

use clap::{CommandFactory, Parser};
use paddock_fuzz::{config, mutated};
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

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(" 7 ".to_string()),
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("65536".to_string()),
        Just("18446744073709551616".to_string()),
        Just("1=a:2888:3888,2=b:2888:3888,3=c:2888:3888".to_string()),
        Just("server.1=[::1]:2888:3888;2181 server.1=x:1:2".to_string()),
        Just("=;==;tickTime=;;syncLimit=0;server.300=h:1:2".to_string()),
        Just("tickTime=1;initLimit=4294967296".to_string()),
        Just("need".to_string()),
        "[0-9a-zA-Z=:;,.\\[\\] /_-]{0,40}",
        ".{0,12}",
        any::<u64>().prop_map(|n| n.to_string()),
    ]
}

const ZOO_CFG: &str = "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/tmp/never-written\n\
clientPort=0\nserver.1=127.0.0.1:2888:3888;2181\nserver.2=127.0.0.1:2889:3889:observer\n";

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn environment_and_zoo_cfg_never_panic(
        picks in proptest::collection::vec((any::<prop::sample::Index>(), value()), 0..6),
        file in proptest::option::of(mutated(vec![ZOO_CFG.as_bytes().to_vec()])),
    ) {
        let vars = variables();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut argv = vec!["paddock".to_string()];
        for (which, value) in picks {
            let (_var, flag) = which.get(&vars);
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
