//! `kraftctl`: Kafka-shaped command line for kraftd controllers.
//!
//! ```text
//! kraftctl [--bootstrap-server HOST:PORT[,HOST:PORT]] [--output text|json] <command>
//!   topics create --topic T [--partitions N] [--replication-factor N] [--config k=v]... [--validate-only]
//!   topics list [--local]
//!   topics describe [--topic T]... [--local]
//!   cluster describe [--local]
//!   brokers simulate --count N [--first-id 1] [--racks 0] [--interval-ms 2000] [--exit-after-ready]
//! ```
//!
//! Thin by design (STYLE §1): parse flags, call `kraft_client`, print what `render` returns.
//! Exit codes: 0 success, 1 failure (an item error or an RPC error), 2 usage error (clap).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use kraft_client::Client;
use kraft_client::proto::{ConfigEntry, CreatableTopic, CreateTopicsRequest};
use kraft_client::render::{self, Format, Rendered};
use kraft_client::simulate::{BrokerSimulator, SimulatorConfig};
use tracing_subscriber::EnvFilter;

/// Command line for kraftd controllers (topics, cluster, simulated brokers).
#[derive(Debug, Parser)]
#[command(name = "kraftctl", version, about)]
struct Cli {
    /// Controller endpoints to bootstrap from; the first reachable one is used.
    #[arg(
        long,
        global = true,
        env = "KRAFT_BOOTSTRAP_SERVER",
        default_value = "127.0.0.1:9093",
        value_name = "HOST:PORT[,HOST:PORT]"
    )]
    bootstrap_server: String,

    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    output: Output,

    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
    /// Kafka-shaped text.
    Text,
    /// One pretty-printed JSON document.
    Json,
}

impl From<Output> for Format {
    fn from(o: Output) -> Self {
        match o {
            Output::Text => Format::Text,
            Output::Json => Format::Json,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, list and describe topics.
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// Describe the cluster: id, controllers and brokers.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Simulated brokers.
    #[command(subcommand)]
    Brokers(BrokersCommand),
}

#[derive(Debug, Subcommand)]
enum TopicsCommand {
    /// Create a topic.
    Create(CreateArgs),
    /// List topic names.
    List(LocalArg),
    /// Describe topics: partitions, leaders, replicas, ISR and configs.
    Describe(DescribeArgs),
}

#[derive(Debug, Args)]
struct LocalArg {
    /// Answer from the contacted controller's applied image instead of the active controller's.
    #[arg(long)]
    local: bool,
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// Topic name.
    #[arg(long)]
    topic: String,
    /// Number of partitions (server default when omitted).
    #[arg(long)]
    partitions: Option<i32>,
    /// Replication factor (server default when omitted).
    #[arg(long)]
    replication_factor: Option<i32>,
    /// A topic config override; repeat for several.
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_config)]
    configs: Vec<(String, String)>,
    /// Validate the request without creating the topic.
    #[arg(long)]
    validate_only: bool,
}

#[derive(Debug, Args)]
struct DescribeArgs {
    /// Topic to describe; repeat for several; all topics when omitted.
    #[arg(long = "topic", value_name = "NAME")]
    topics: Vec<String>,
    #[command(flatten)]
    local: LocalArg,
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Cluster id, active controller, voters and registered brokers.
    Describe(LocalArg),
}

#[derive(Debug, Subcommand)]
enum BrokersCommand {
    /// Register simulated brokers and heartbeat them until Ctrl-C.
    Simulate(SimulateArgs),
}

#[derive(Debug, Args)]
struct SimulateArgs {
    /// Number of brokers.
    #[arg(long)]
    count: u32,
    /// Id of the first broker; brokers are FIRST_ID..FIRST_ID+COUNT.
    #[arg(long, default_value_t = 1)]
    first_id: i32,
    /// Spread brokers over this many racks (rack-<id % racks>); 0 for no racks.
    #[arg(long, default_value_t = 0)]
    racks: u32,
    /// Milliseconds between heartbeats.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    interval_ms: u64,
    /// Exit 0 as soon as every broker is unfenced instead of running until Ctrl-C.
    #[arg(long)]
    exit_after_ready: bool,
    /// How long to wait for every broker to be unfenced before reporting failure.
    #[arg(long, default_value_t = 60)]
    ready_timeout_secs: u64,
}

/// `KEY=VALUE` for `--config`; clap reports a failure naming the flag.
fn parse_config(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        Some(_) => Err(format!("empty config name in {s:?}; expected KEY=VALUE")),
        None => Err(format!("{s:?} has no '='; expected KEY=VALUE")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let format = Format::from(cli.output);
    let client = Client::connect(&cli.bootstrap_server).await?;
    let rendered = match cli.command {
        Command::Topics(TopicsCommand::Create(args)) => {
            let validate_only = args.validate_only;
            let req = CreateTopicsRequest {
                topics: vec![CreatableTopic {
                    name: args.topic,
                    num_partitions: args.partitions.unwrap_or(-1),
                    replication_factor: args.replication_factor.unwrap_or(-1),
                    configs: args
                        .configs
                        .into_iter()
                        .map(|(name, value)| ConfigEntry {
                            name,
                            value: Some(value),
                        })
                        .collect(),
                }],
                validate_only,
            };
            let resp = client.create_topics(req).await?;
            render::create_topics(&resp, validate_only, format)
        }
        Command::Topics(TopicsCommand::List(LocalArg { local })) => {
            render::list_topics(&client.list_topics(local).await?, format)
        }
        Command::Topics(TopicsCommand::Describe(args)) => {
            let resp = client
                .describe_topics(args.topics, args.local.local)
                .await?;
            render::describe_topics(&resp, format)
        }
        Command::Cluster(ClusterCommand::Describe(LocalArg { local })) => {
            render::describe_cluster(&client.describe_cluster(local).await?, format)
        }
        Command::Brokers(BrokersCommand::Simulate(args)) => {
            return simulate(client, args, format).await;
        }
    };
    Ok(print(rendered))
}

fn print(r: Rendered) -> ExitCode {
    print!("{}", r.stdout);
    if r.failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

async fn simulate(client: Client, args: SimulateArgs, format: Format) -> anyhow::Result<ExitCode> {
    let config = SimulatorConfig {
        first_id: args.first_id,
        count: args.count,
        racks: args.racks,
        interval: Duration::from_millis(args.interval_ms),
        ..SimulatorConfig::default()
    };
    let sim = BrokerSimulator::register(client, config)
        .await
        .context("registering simulated brokers")?;
    if format == Format::Text {
        for b in sim.brokers() {
            println!("{}", render::registered_broker_text(&b));
        }
    }

    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let runner = {
        let sim = sim.clone();
        tokio::spawn(async move {
            sim.run(async move {
                // An Err means the sender is gone, which also means stop.
                let _ = stop_rx.wait_for(|stop| *stop).await;
            })
            .await;
        })
    };

    let ready_timeout = Duration::from_secs(args.ready_timeout_secs);
    let ready = tokio::select! {
        r = sim.wait_unfenced(ready_timeout) => r,
        _ = tokio::signal::ctrl_c() => {
            let _ = stop_tx.send(true);
            let _ = runner.await;
            return Ok(ExitCode::FAILURE);
        }
    };
    let code = match ready {
        Ok(()) => {
            match format {
                Format::Text => println!("All {} brokers are unfenced.", args.count),
                Format::Json => println!(
                    "{:#}",
                    render::simulated_brokers_json(sim.cluster_id(), &sim.brokers(), true)
                ),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("Error: {e}");
            if format == Format::Json {
                println!(
                    "{:#}",
                    render::simulated_brokers_json(sim.cluster_id(), &sim.brokers(), false)
                );
            }
            ExitCode::FAILURE
        }
    };
    if !args.exit_after_ready {
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
    }
    let _ = stop_tx.send(true);
    let _ = runner.await;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn topics_create_defaults_and_configs() {
        let cli = Cli::try_parse_from([
            "kraftctl", "topics", "create", "--topic", "t", "--config", "a=1", "--config", "b=x=y",
        ])
        .unwrap();
        let Command::Topics(TopicsCommand::Create(args)) = cli.command else {
            panic!("parsed {:?}", cli.command);
        };
        assert_eq!((args.partitions, args.replication_factor), (None, None));
        assert_eq!(
            args.configs,
            [("a".into(), "1".into()), ("b".into(), "x=y".into())]
        );
        assert_eq!(cli.bootstrap_server, "127.0.0.1:9093");
        assert_eq!(cli.output, Output::Text);
    }

    #[test]
    fn bad_config_is_a_usage_error_naming_the_flag() {
        let err = Cli::try_parse_from([
            "kraftctl", "topics", "create", "--topic", "t", "--config", "novalue",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(err.to_string().contains("--config"), "{err}");
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli = Cli::try_parse_from([
            "kraftctl",
            "cluster",
            "describe",
            "--local",
            "--output",
            "json",
            "--bootstrap-server",
            "a:1,b:2",
        ])
        .unwrap();
        assert_eq!(cli.output, Output::Json);
        assert_eq!(cli.bootstrap_server, "a:1,b:2");
    }
}
