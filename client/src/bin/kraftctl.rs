//! `kraftctl`: Kafka-shaped command line for kraftd controllers.
//!
//! ```text
//! kraftctl [--bootstrap-server HOST:PORT[,HOST:PORT]] [--output text|json] <command>
//!   topics create --topic T [--partitions N] [--replication-factor N] [--config k=v]... [--validate-only]
//!   topics list [--local]
//!   topics describe [--topic T]... [--local]
//!   topics alter --topic T --partitions N [--validate-only]
//!   topics delete (--topic T | --topic-id ID)...
//!   configs describe --entity-type topics|brokers (--entity-name NAME | --entity-default) [--all]
//!   configs alter --entity-type topics|brokers (--entity-name NAME | --entity-default)
//!                 [--add-config k=v,k2=[a,b]] [--delete-config k,k2] [--append-config k=v]
//!                 [--subtract-config k=v] [--validate-only]
//!   cluster describe [--local]
//!   brokers list [--local]
//!   brokers unregister --id N
//!   brokers simulate --count N [--first-id 1] [--racks 0] [--interval-ms 2000] [--exit-after-ready]
//!   leaders elect --election-type preferred|unclean (--topic T --partition P... | --all-topic-partitions)
//!   reassignments add (--topic T --partition P --replicas 1,2,3)... | --reassignment-json-file F
//!   reassignments cancel (--topic T --partition P)... | --reassignment-json-file F
//!   reassignments list
//!   features describe
//!   features upgrade --feature NAME --version N [--dry-run]
//!   features downgrade --feature NAME --version N [--unsafe] [--dry-run]
//!   status
//! ```
//!
//! Thin by design (STYLE §1): parse flags, call `kraft_client`, print what `render` returns.
//! Exit codes: 0 success, 1 failure (an item error or an RPC error), 2 usage error (clap, or a
//! rule across flags, e.g. a config key under both `--add-config` and `--delete-config`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::error::ErrorKind;
use clap::{ArgGroup, Args, CommandFactory as _, Parser, Subcommand, ValueEnum};
use kraft_client::Client;
use kraft_client::args::{
    self, ConfigChanges, PartitionReassignment, alter_config_ops, pair_reassignments,
    reassignment_request,
};
use kraft_client::proto::{
    AlterConfigsResource, ConfigEntry, ConfigResourceType, CreatableTopic, CreatePartitionsRequest,
    CreatePartitionsTopic, CreateTopicsRequest, DeleteTopicState, DeleteTopicsRequest,
    DescribeConfigsRequest, DescribeConfigsResource, ElectLeadersRequest, ElectionType,
    FeatureUpdate, FeatureUpgradeType, IncrementalAlterConfigsRequest,
    ListPartitionReassignmentsRequest, TopicPartitions, UpdateFeaturesRequest,
};
use kraft_client::render::{self, Format, Rendered};
use kraft_client::simulate::{BrokerSimulator, SimulatorConfig};
use tracing_subscriber::EnvFilter;

/// Command line for kraftd controllers (topics, configs, cluster, brokers, leaders,
/// reassignments, features).
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

    /// CA bundle of the controllers' certificates: connect with TLS.
    #[arg(long, global = true, env = "KRAFT_TLS_CA_FILE", value_name = "FILE")]
    tls_ca_file: Option<PathBuf>,

    /// Client certificate presented to the controllers (mTLS); its CN is your principal.
    #[arg(long, global = true, env = "KRAFT_TLS_CERT_FILE", value_name = "FILE")]
    tls_cert_file: Option<PathBuf>,

    /// Private key of --tls-cert-file.
    #[arg(long, global = true, env = "KRAFT_TLS_KEY_FILE", value_name = "FILE")]
    tls_key_file: Option<PathBuf>,

    /// File holding a bearer token (first line), sent over TLS instead of a certificate.
    #[arg(long, global = true, env = "KRAFT_TOKEN_FILE", value_name = "FILE")]
    token_file: Option<PathBuf>,

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
    /// Create, list, describe, alter and delete topics (like kafka-topics.sh).
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// Describe and alter topic and broker configs (like kafka-configs.sh).
    #[command(subcommand)]
    Configs(ConfigsCommand),
    /// Describe the cluster: id, controllers and brokers.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// List and unregister brokers; simulated brokers.
    #[command(subcommand)]
    Brokers(BrokersCommand),
    /// Preferred or unclean leader election (like kafka-leader-election.sh).
    #[command(subcommand)]
    Leaders(LeadersCommand),
    /// Start, cancel and list partition reassignments (like kafka-reassign-partitions.sh).
    #[command(subcommand)]
    Reassignments(ReassignmentsCommand),
    /// Describe, upgrade and downgrade feature levels (like kafka-features.sh).
    #[command(subcommand)]
    Features(FeaturesCommand),
    /// The controller quorum (like kafka-metadata-quorum.sh).
    #[command(subcommand)]
    Quorum(QuorumCommand),
    /// The metadata image (like kafka-metadata-shell).
    #[command(subcommand)]
    Metadata(MetadataCommand),
    /// One screen of health: quorum (leader, voters, lag), brokers (fenced / unfenced),
    /// partitions (offline, under-replicated, under-min-ISR).
    Status,
    /// Certificates for TLS and mTLS: a CA plus controller, broker and admin certificates.
    #[command(subcommand)]
    Certs(CertsCommand),
}

#[derive(Debug, Subcommand)]
enum CertsCommand {
    /// Write ca.crt/ca.key, controller.crt/.key (CN controller, shared by every controller),
    /// broker-<id>.crt/.key and one certificate per --principal into --out.
    Create(CertsCreateArgs),
}

#[derive(Debug, Args)]
struct CertsCreateArgs {
    /// Directory to write into (created if missing).
    #[arg(long, default_value = "./certs")]
    out: PathBuf,
    /// Names the controllers are reached at (SANs of controller.crt); `*.svc` wildcards work
    /// for one label, e.g. `*.kraft-headless.kafka.svc`.
    #[arg(long, value_delimiter = ',', default_value = "localhost,127.0.0.1")]
    controller_hosts: Vec<String>,
    /// Broker certificates to make: broker-1 .. broker-N.
    #[arg(long, default_value_t = 3)]
    brokers: u32,
    /// Further principals to certify (list them in admin_principals / reader_principals).
    #[arg(long = "principal", default_value = "admin")]
    principals: Vec<String>,
    /// Validity in days.
    #[arg(long, default_value_t = 365)]
    days: i64,
}

#[derive(Debug, Subcommand)]
enum TopicsCommand {
    /// Create a topic.
    Create(CreateArgs),
    /// List topic names.
    List(LocalArg),
    /// Describe topics: partitions, leaders, replicas, ISR and configs.
    Describe(DescribeArgs),
    /// Increase a topic's partition count (kafka-topics.sh --alter --partitions).
    Alter(AlterTopicArgs),
    /// Delete topics by name or id.
    Delete(DeleteTopicArgs),
}

#[derive(Debug, Args)]
struct AlterTopicArgs {
    /// Topic name.
    #[arg(long)]
    topic: String,
    /// The new total number of partitions (only increases are allowed).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    partitions: i32,
    /// Validate the request without changing the topic.
    #[arg(long)]
    validate_only: bool,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").args(["topics", "topic_ids"]).required(true).multiple(true)))]
struct DeleteTopicArgs {
    /// Topic to delete by name; repeat for several.
    #[arg(long = "topic", value_name = "NAME")]
    topics: Vec<String>,
    /// Topic to delete by id; repeat for several.
    #[arg(long = "topic-id", value_name = "ID")]
    topic_ids: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum ConfigsCommand {
    /// Show a topic's or broker's configs (kafka-configs.sh --describe).
    Describe(DescribeConfigsArgs),
    /// Set, delete, append to or subtract from config keys (kafka-configs.sh --alter).
    Alter(AlterConfigsArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum EntityType {
    /// A topic, named by --entity-name.
    #[value(alias = "topic")]
    Topics,
    /// A broker (--entity-name ID), or every broker's default (--entity-default).
    #[value(alias = "broker")]
    Brokers,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("entity").args(["entity_name", "entity_default"]).required(true)))]
struct EntityArgs {
    /// Kind of entity.
    #[arg(long, value_enum)]
    entity_type: EntityType,
    /// Topic name, or broker id.
    #[arg(long, value_name = "NAME")]
    entity_name: Option<String>,
    /// The cluster-wide default of every broker (only with --entity-type brokers).
    #[arg(long)]
    entity_default: bool,
}

impl EntityArgs {
    /// `(resource_type, resource_name)`: checks the rules clap cannot express.
    fn resource(&self, path: &[&str]) -> Result<(ConfigResourceType, String), clap::Error> {
        match (self.entity_type, &self.entity_name) {
            (EntityType::Topics, Some(name)) if name.trim().is_empty() => Err(usage(
                path,
                ErrorKind::InvalidValue,
                "--entity-name must not be empty for --entity-type topics",
            )),
            (EntityType::Topics, Some(name)) => Ok((ConfigResourceType::Topic, name.clone())),
            (EntityType::Topics, None) => Err(usage(
                path,
                ErrorKind::ArgumentConflict,
                "--entity-default is only valid with --entity-type brokers; \
                 name the topic with --entity-name",
            )),
            (EntityType::Brokers, Some(id)) => match id.trim().parse::<i32>() {
                Ok(n) if n >= 0 => Ok((ConfigResourceType::Broker, n.to_string())),
                _ => Err(usage(
                    path,
                    ErrorKind::InvalidValue,
                    format!(
                        "--entity-name for --entity-type brokers must be a broker id (a \
                         non-negative integer), got {id:?}; use --entity-default for the \
                         cluster-wide default"
                    ),
                )),
            },
            (EntityType::Brokers, None) => Ok((ConfigResourceType::Broker, String::new())),
        }
    }
}

#[derive(Debug, Args)]
struct DescribeConfigsArgs {
    #[command(flatten)]
    entity: EntityArgs,
    /// Show every config, including those at Kafka's default (otherwise only the dynamic ones).
    #[arg(long)]
    all: bool,
}

#[derive(Debug, Args)]
struct AlterConfigsArgs {
    #[command(flatten)]
    entity: EntityArgs,
    /// Configs to set: k=v,k2=[v1,v2] (a bracketed value keeps its commas); repeatable.
    #[arg(long, value_name = "K=V[,K=[V1,V2]]", value_parser = parse_config_list)]
    add_config: Vec<ConfigList>,
    /// Configs to delete (reset to their default): k,k2; repeatable.
    #[arg(long, value_name = "K[,K]", value_parser = parse_config_names)]
    delete_config: Vec<Names>,
    /// Items to append to list configs: k=v or k=[v1,v2]; repeatable.
    #[arg(long, value_name = "K=V[,K=[V1,V2]]", value_parser = parse_config_list)]
    append_config: Vec<ConfigList>,
    /// Items to remove from list configs: k=v or k=[v1,v2]; repeatable.
    #[arg(long, value_name = "K=V[,K=[V1,V2]]", value_parser = parse_config_list)]
    subtract_config: Vec<ConfigList>,
    /// Validate the change without applying it.
    #[arg(long)]
    validate_only: bool,
}

impl AlterConfigsArgs {
    fn changes(&self) -> ConfigChanges {
        let flat = |v: &[ConfigList]| v.iter().flat_map(|l| l.0.iter().cloned()).collect();
        ConfigChanges {
            add: flat(&self.add_config),
            delete: self
                .delete_config
                .iter()
                .flat_map(|n| n.0.iter().cloned())
                .collect(),
            append: flat(&self.append_config),
            subtract: flat(&self.subtract_config),
        }
    }
}

/// One `--add-config` (or append/subtract) value: its `key=value` pairs in order.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ConfigList(Vec<(String, String)>);

/// One `--delete-config` value: its names in order.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Names(Vec<String>);

fn parse_config_list(s: &str) -> Result<ConfigList, String> {
    args::parse_config_list(s).map(ConfigList)
}

fn parse_config_names(s: &str) -> Result<Names, String> {
    args::parse_config_names(s).map(Names)
}

/// One `--replicas` value (a newtype: clap reads a bare `Vec<Vec<_>>` as grouped values).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Replicas(Vec<i32>);

/// The partitions of a `--reassignment-json-file` (a newtype, as [`Replicas`]).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Plan(Vec<PartitionReassignment>);

fn parse_replicas(s: &str) -> Result<Replicas, String> {
    args::parse_replicas(s).map(Replicas)
}

fn read_plan(path: &str) -> Result<Plan, String> {
    args::read_reassignment_file(path).map(Plan)
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
    /// Registered brokers: id, epoch, fenced, in controlled shutdown, rack, listeners.
    List(LocalArg),
    /// Remove a broker's registration (kafka-cluster.sh unregister).
    Unregister(UnregisterArgs),
    /// Register simulated brokers and heartbeat them until Ctrl-C.
    Simulate(SimulateArgs),
}

#[derive(Debug, Args)]
struct UnregisterArgs {
    /// Id of the broker to unregister.
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..))]
    id: i32,
}

#[derive(Debug, Subcommand)]
enum LeadersCommand {
    /// Elect leaders for one topic's partitions or for every partition.
    Elect(ElectArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Election {
    /// Move leadership to the first replica if it is in the ISR.
    Preferred,
    /// Elect a leader outside the ISR for leaderless partitions (may lose data).
    Unclean,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").args(["topic", "all_topic_partitions"]).required(true)))]
struct ElectArgs {
    /// Type of election.
    #[arg(long, value_enum, ignore_case = true)]
    election_type: Election,
    /// Topic whose partitions to elect leaders for (with --partition).
    #[arg(long)]
    topic: Option<String>,
    /// Partition of --topic; repeat for several.
    #[arg(long, requires = "topic", value_parser = clap::value_parser!(i32).range(0..))]
    partition: Vec<i32>,
    /// Elect leaders for every partition of every topic.
    #[arg(long)]
    all_topic_partitions: bool,
}

#[derive(Debug, Subcommand)]
enum ReassignmentsCommand {
    /// Start reassigning partitions to new replica lists.
    Add(AddReassignmentArgs),
    /// Cancel partition reassignments in progress.
    Cancel(CancelReassignmentArgs),
    /// List partition reassignments in progress.
    List,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("plan").args(["topic", "reassignment_json_file"]).required(true)))]
struct AddReassignmentArgs {
    /// Topic of a partition to reassign; pairs in order with --partition and --replicas.
    #[arg(long, requires_all = ["partition", "replicas"])]
    topic: Vec<String>,
    /// Partition to reassign; repeat once per --topic.
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..))]
    partition: Vec<i32>,
    /// Target replicas, preferred leader first: ID,ID,...; repeat once per --topic.
    #[arg(long, value_name = "ID[,ID]", value_parser = parse_replicas)]
    replicas: Vec<Replicas>,
    /// A kafka-reassign-partitions.sh plan:
    /// {"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2,3]}]}
    #[arg(long, value_name = "PATH", value_parser = read_plan,
          conflicts_with_all = ["topic", "partition", "replicas"])]
    reassignment_json_file: Option<Plan>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("plan").args(["topic", "reassignment_json_file"]).required(true)))]
struct CancelReassignmentArgs {
    /// Topic of a partition whose reassignment to cancel; pairs in order with --partition.
    #[arg(long, requires = "partition")]
    topic: Vec<String>,
    /// Partition; repeat once per --topic.
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..))]
    partition: Vec<i32>,
    /// A kafka-reassign-partitions.sh plan; its partitions' reassignments are cancelled.
    #[arg(long, value_name = "PATH", value_parser = read_plan,
          conflicts_with_all = ["topic", "partition"])]
    reassignment_json_file: Option<Plan>,
}

#[derive(Debug, Subcommand)]
enum FeaturesCommand {
    /// Supported ranges and finalized levels of every feature.
    Describe,
    /// Raise a feature's finalized level.
    Upgrade(UpgradeArgs),
    /// Lower a feature's finalized level (0 disables it).
    Downgrade(DowngradeArgs),
}

#[derive(Debug, Args)]
struct UpgradeArgs {
    /// Feature name, e.g. metadata.version.
    #[arg(long)]
    feature: String,
    /// The new finalized level.
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    version: i32,
    /// Validate the update without applying it.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
struct DowngradeArgs {
    /// Feature name, e.g. metadata.version.
    #[arg(long)]
    feature: String,
    /// The new finalized level; 0 disables the feature.
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..))]
    version: i32,
    /// Allow a downgrade that may lose metadata (UNSAFE_DOWNGRADE).
    #[arg(long)]
    r#unsafe: bool,
    /// Validate the update without applying it.
    #[arg(long)]
    dry_run: bool,
}

/// A usage error (exit code 2) of the subcommand at `path` (e.g. `["configs", "alter"]`),
/// for a rule clap's attributes cannot express.
fn usage(path: &[&str], kind: ErrorKind, message: impl std::fmt::Display) -> clap::Error {
    let mut cmd = Cli::command();
    // Building fills in the subcommands' `kraftctl configs alter` usage names.
    cmd.build();
    for name in path {
        match cmd.find_subcommand(name) {
            Some(sub) => cmd = sub.clone(),
            None => break,
        }
    }
    cmd.error(kind, message)
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
    // Rules across flags are checked before anything is sent; they exit 2 like clap's own.
    let action = plan(cli.command).unwrap_or_else(|e| e.exit());
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
    let format = Format::from(cli.output);
    if let Action::CreateCerts(args) = &action {
        return match create_certs(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let security = match kraft_client::Security::from_files(
        cli.tls_ca_file.as_deref(),
        cli.tls_cert_file.as_deref(),
        cli.tls_key_file.as_deref(),
        cli.token_file.as_deref(),
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(&cli.bootstrap_server, security, action, format)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Subcommand, Debug)]
enum QuorumCommand {
    /// Leader, epoch, high watermark and lag (--status, the default) or per-replica state.
    Describe(QuorumDescribeArgs),
    /// Add a controller: it catches up as an observer, then becomes a voter.
    AddController(AddControllerArgs),
    /// Remove a voter.
    RemoveController(RemoveControllerArgs),
    /// Hand leadership to another voter.
    TransferLeader(TransferLeaderArgs),
}

#[derive(Args, Debug)]
struct QuorumDescribeArgs {
    /// Summary: leader, epoch, high watermark, max follower lag (default).
    #[arg(long, conflicts_with = "replication")]
    status: bool,
    /// One row per voter and observer.
    #[arg(long)]
    replication: bool,
}

#[derive(Args, Debug)]
struct AddControllerArgs {
    /// Node id of the new controller.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    id: u64,
    /// host:port of the new controller's listener.
    #[arg(long)]
    endpoint: String,
    /// How long the new controller may take to catch up, in ms.
    #[arg(long, default_value_t = 60_000)]
    timeout_ms: u32,
}

#[derive(Args, Debug)]
struct RemoveControllerArgs {
    /// Node id of the voter to remove.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    id: u64,
}

#[derive(Args, Debug)]
struct TransferLeaderArgs {
    /// Node id of the voter to hand leadership to.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    to: u64,
}

#[derive(Subcommand, Debug)]
enum MetadataCommand {
    /// Print the contacted controller's metadata image as JSON.
    Dump(DumpArgs),
}

#[derive(Args, Debug)]
struct DumpArgs {
    /// Wait until the controller has applied at least this offset.
    #[arg(long, default_value_t = 0)]
    offset: u64,
}

/// What to do, with its request built and checked: everything but the RPC.
#[derive(Debug)]
enum Action {
    CreateCerts(CertsCreateArgs),
    CreateTopics(CreateTopicsRequest),
    ListTopics {
        local: bool,
    },
    DescribeTopics {
        names: Vec<String>,
        local: bool,
    },
    CreatePartitions(CreatePartitionsRequest),
    DeleteTopics(DeleteTopicsRequest),
    DescribeConfigs {
        req: DescribeConfigsRequest,
        all: bool,
    },
    AlterConfigs(IncrementalAlterConfigsRequest),
    DescribeCluster {
        local: bool,
    },
    ListBrokers {
        local: bool,
    },
    UnregisterBroker {
        id: i32,
    },
    Simulate(SimulateArgs),
    ElectLeaders(ElectLeadersRequest),
    AlterReassignments {
        plan: Vec<PartitionReassignment>,
        cancel: bool,
    },
    ListReassignments,
    DescribeFeatures,
    UpdateFeatures(UpdateFeaturesRequest),
    DescribeQuorum {
        replication: bool,
    },
    AddController(AddControllerArgs),
    RemoveController {
        id: u64,
    },
    TransferLeader {
        to: u64,
    },
    DumpMetadata {
        offset: u64,
    },
    Status,
}

/// Builds the request of `command`, checking the rules clap's attributes cannot express; a
/// broken rule is a usage error naming the flag.
fn plan(command: Command) -> Result<Action, clap::Error> {
    Ok(match command {
        Command::Topics(TopicsCommand::Create(args)) => Action::CreateTopics(CreateTopicsRequest {
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
                ..CreatableTopic::default()
            }],
            validate_only: args.validate_only,
        }),
        Command::Topics(TopicsCommand::List(LocalArg { local })) => Action::ListTopics { local },
        Command::Topics(TopicsCommand::Describe(args)) => Action::DescribeTopics {
            names: args.topics,
            local: args.local.local,
        },
        Command::Topics(TopicsCommand::Alter(args)) => {
            Action::CreatePartitions(CreatePartitionsRequest {
                topics: vec![CreatePartitionsTopic {
                    name: args.topic,
                    count: args.partitions,
                    assignments: vec![],
                }],
                validate_only: args.validate_only,
            })
        }
        Command::Topics(TopicsCommand::Delete(args)) => {
            let by_name = args.topics.into_iter().map(|name| DeleteTopicState {
                name,
                topic_id: String::new(),
            });
            let by_id = args.topic_ids.into_iter().map(|topic_id| DeleteTopicState {
                name: String::new(),
                topic_id,
            });
            Action::DeleteTopics(DeleteTopicsRequest {
                topics: by_name.chain(by_id).collect(),
            })
        }
        Command::Configs(ConfigsCommand::Describe(args)) => {
            let (ty, name) = args.entity.resource(&["configs", "describe"])?;
            Action::DescribeConfigs {
                req: DescribeConfigsRequest {
                    resources: vec![DescribeConfigsResource {
                        resource_type: ty as i32,
                        resource_name: name,
                        configuration_keys: vec![],
                    }],
                },
                all: args.all,
            }
        }
        Command::Configs(ConfigsCommand::Alter(args)) => {
            let path = ["configs", "alter"];
            let (ty, name) = args.entity.resource(&path)?;
            let configs = alter_config_ops(&args.changes())
                .map_err(|rule| usage(&path, ErrorKind::ArgumentConflict, rule))?;
            Action::AlterConfigs(IncrementalAlterConfigsRequest {
                resources: vec![AlterConfigsResource {
                    resource_type: ty as i32,
                    resource_name: name,
                    configs,
                }],
                validate_only: args.validate_only,
            })
        }
        Command::Cluster(ClusterCommand::Describe(LocalArg { local })) => {
            Action::DescribeCluster { local }
        }
        Command::Brokers(BrokersCommand::List(LocalArg { local })) => Action::ListBrokers { local },
        Command::Brokers(BrokersCommand::Unregister(args)) => {
            Action::UnregisterBroker { id: args.id }
        }
        Command::Brokers(BrokersCommand::Simulate(args)) => Action::Simulate(args),
        Command::Leaders(LeadersCommand::Elect(args)) => {
            let election_type = match args.election_type {
                Election::Preferred => ElectionType::Preferred,
                Election::Unclean => ElectionType::Unclean,
            };
            let topic_partitions = match args.topic {
                Some(_) if args.partition.is_empty() => {
                    return Err(usage(
                        &["leaders", "elect"],
                        ErrorKind::MissingRequiredArgument,
                        "--topic needs at least one --partition",
                    ));
                }
                Some(topic) => {
                    let mut partitions = args.partition;
                    partitions.sort_unstable();
                    partitions.dedup();
                    vec![TopicPartitions { topic, partitions }]
                }
                None => vec![],
            };
            Action::ElectLeaders(ElectLeadersRequest {
                election_type: election_type as i32,
                topic_partitions,
            })
        }
        Command::Reassignments(ReassignmentsCommand::Add(args)) => {
            let replicas: Vec<Vec<i32>> = args.replicas.into_iter().map(|r| r.0).collect();
            let plan = match args.reassignment_json_file {
                Some(Plan(plan)) => plan,
                None => pair_reassignments(&args.topic, &args.partition, Some(&replicas)).map_err(
                    |rule| {
                        usage(
                            &["reassignments", "add"],
                            ErrorKind::WrongNumberOfValues,
                            rule,
                        )
                    },
                )?,
            };
            Action::AlterReassignments {
                plan,
                cancel: false,
            }
        }
        Command::Reassignments(ReassignmentsCommand::Cancel(args)) => {
            let plan = match args.reassignment_json_file {
                Some(Plan(plan)) => plan,
                None => pair_reassignments(&args.topic, &args.partition, None).map_err(|rule| {
                    usage(
                        &["reassignments", "cancel"],
                        ErrorKind::WrongNumberOfValues,
                        rule,
                    )
                })?,
            };
            Action::AlterReassignments { plan, cancel: true }
        }
        Command::Reassignments(ReassignmentsCommand::List) => Action::ListReassignments,
        Command::Features(FeaturesCommand::Describe) => Action::DescribeFeatures,
        Command::Quorum(QuorumCommand::Describe(args)) => Action::DescribeQuorum {
            replication: args.replication,
        },
        Command::Quorum(QuorumCommand::AddController(args)) => Action::AddController(args),
        Command::Quorum(QuorumCommand::RemoveController(args)) => {
            Action::RemoveController { id: args.id }
        }
        Command::Quorum(QuorumCommand::TransferLeader(args)) => {
            Action::TransferLeader { to: args.to }
        }
        Command::Certs(CertsCommand::Create(args)) => Action::CreateCerts(args),
        Command::Metadata(MetadataCommand::Dump(args)) => Action::DumpMetadata {
            offset: args.offset,
        },
        Command::Status => Action::Status,
        Command::Features(FeaturesCommand::Upgrade(args)) => {
            Action::UpdateFeatures(UpdateFeaturesRequest {
                feature_updates: vec![FeatureUpdate {
                    feature: args.feature,
                    max_version_level: args.version,
                    upgrade_type: FeatureUpgradeType::Upgrade as i32,
                }],
                validate_only: args.dry_run,
            })
        }
        Command::Features(FeaturesCommand::Downgrade(args)) => {
            let upgrade_type = if args.r#unsafe {
                FeatureUpgradeType::UnsafeDowngrade
            } else {
                FeatureUpgradeType::SafeDowngrade
            };
            Action::UpdateFeatures(UpdateFeaturesRequest {
                feature_updates: vec![FeatureUpdate {
                    feature: args.feature,
                    max_version_level: args.version,
                    upgrade_type: upgrade_type as i32,
                }],
                validate_only: args.dry_run,
            })
        }
    })
}

/// `kraftctl certs create`.
fn create_certs(args: &CertsCreateArgs) -> anyhow::Result<()> {
    use kraft_client::certs::{Ca, write};
    let ca = Ca::new("kraftd-ca", args.days)?;
    let mut written = vec![write(&args.out, "ca", ca.pem())?];
    written.push(write(
        &args.out,
        "controller",
        &ca.issue("controller", &args.controller_hosts)?,
    )?);
    for id in 1..=args.brokers {
        let name = format!("broker-{id}");
        written.push(write(&args.out, &name, &ca.issue(&name, &[])?)?);
    }
    for name in &args.principals {
        written.push(write(&args.out, name, &ca.issue(name, &[])?)?);
    }
    for (cert, key) in written {
        println!("{}\t{}", cert.display(), key.display());
    }
    Ok(())
}

async fn run(
    bootstrap: &str,
    security: kraft_client::Security,
    action: Action,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let config = kraft_client::ClientConfig {
        security,
        ..Default::default()
    };
    let client = Client::connect_with(bootstrap, config).await?;
    let rendered = match action {
        Action::CreateCerts(args) => {
            create_certs(&args)?;
            return Ok(ExitCode::SUCCESS);
        }
        Action::CreateTopics(req) => {
            let validate_only = req.validate_only;
            let resp = client.create_topics(req).await?;
            render::create_topics(&resp, validate_only, format)
        }
        Action::ListTopics { local } => {
            render::list_topics(&client.list_topics(local).await?, format)
        }
        Action::DescribeTopics { names, local } => {
            render::describe_topics(&client.describe_topics(names, local).await?, format)
        }
        Action::CreatePartitions(req) => {
            let resp = client.create_partitions(req.clone()).await?;
            render::create_partitions(&req, &resp, format)
        }
        Action::DeleteTopics(req) => {
            render::delete_topics(&client.delete_topics(req).await?, format)
        }
        Action::DescribeConfigs { req, all } => {
            render::describe_configs(&client.describe_configs(req).await?, all, format)
        }
        Action::AlterConfigs(req) => {
            let validate_only = req.validate_only;
            let resp = client.incremental_alter_configs(req).await?;
            render::alter_configs(&resp, validate_only, format)
        }
        Action::DescribeCluster { local } => {
            render::describe_cluster(&client.describe_cluster(local).await?, format)
        }
        Action::ListBrokers { local } => {
            render::list_brokers(&client.describe_cluster(local).await?, format)
        }
        Action::UnregisterBroker { id } => {
            render::unregister_broker(id, &client.unregister_broker(id).await?, format)
        }
        Action::Simulate(args) => return simulate(client, args, format).await,
        Action::DescribeQuorum { replication } => {
            let cluster_id = client.describe_cluster(false).await?.cluster_id;
            render::describe_quorum(
                &client.describe_quorum().await?,
                &cluster_id,
                replication,
                format,
            )
        }
        Action::AddController(args) => {
            let req = kraft_client::proto::AddRaftVoterRequest {
                voter_id: args.id,
                endpoint: args.endpoint.clone(),
                timeout_ms: args.timeout_ms,
            };
            let resp = client.add_raft_voter(req).await?;
            render::quorum_change(
                &format!(
                    "Added controller {} ({}) as a voter.",
                    args.id, args.endpoint
                ),
                resp.error.as_ref(),
                format,
            )
        }
        Action::RemoveController { id } => {
            let resp = client.remove_raft_voter(id).await?;
            render::quorum_change(
                &format!("Removed controller {id} from the voters."),
                resp.error.as_ref(),
                format,
            )
        }
        Action::TransferLeader { to } => {
            let resp = client.transfer_leadership(to).await?;
            render::quorum_change(
                &format!("Controller {} now leads.", resp.new_leader_id),
                resp.error.as_ref(),
                format,
            )
        }
        Action::DumpMetadata { offset } => {
            render::dump_metadata(&client.dump_metadata(offset).await?, format)
        }
        Action::Status => render::status(&cluster_status(&client).await?, format),
        Action::ElectLeaders(req) => {
            let election_type = req.election_type;
            render::elect_leaders(election_type, &client.elect_leaders(req).await?, format)
        }
        Action::AlterReassignments { plan, cancel } => {
            let req = reassignment_request(&plan, cancel);
            let resp = client.alter_partition_reassignments(req).await?;
            render::alter_reassignments(&resp, cancel, format)
        }
        Action::ListReassignments => {
            let resp = client
                .list_partition_reassignments(ListPartitionReassignmentsRequest::default())
                .await?;
            render::list_reassignments(&resp, format)
        }
        Action::DescribeFeatures => {
            render::describe_features(&client.describe_features().await?, format)
        }
        Action::UpdateFeatures(req) => {
            let resp = client.update_features(req.clone()).await?;
            render::update_features(&req, &resp, format)
        }
    };
    Ok(print(rendered))
}

/// `kraftctl status`: four read-only RPCs, combined by `render::cluster_status`.
async fn cluster_status(client: &Client) -> anyhow::Result<render::ClusterStatus> {
    let (quorum, cluster, topics) = tokio::try_join!(
        client.describe_quorum(),
        client.describe_cluster(false),
        client.describe_topics(Vec::<String>::new(), false),
    )?;
    if let Some(e) = kraft_client::item_failure(quorum.error.as_ref()) {
        anyhow::bail!(
            "DescribeQuorum failed: {} ({})",
            e.error_message,
            e.error_name
        );
    }
    let resources: Vec<DescribeConfigsResource> = topics
        .topics
        .iter()
        .filter(|t| kraft_client::item_failure(t.error.as_ref()).is_none())
        .map(|t| DescribeConfigsResource {
            resource_type: ConfigResourceType::Topic as i32,
            resource_name: t.name.clone(),
            configuration_keys: vec!["min.insync.replicas".into()],
        })
        .collect();
    let min_isr = if resources.is_empty() {
        Default::default()
    } else {
        render::min_isr_by_topic(
            &client
                .describe_configs(DescribeConfigsRequest { resources })
                .await?,
        )
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Ok(render::cluster_status(
        &quorum, &cluster, &topics, &min_isr, now_ms,
    ))
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

    fn plan_of(args: &[&str]) -> Result<Action, clap::Error> {
        let cli = Cli::try_parse_from(std::iter::once("kraftctl").chain(args.iter().copied()))?;
        plan(cli.command)
    }

    #[test]
    fn add_config_keeps_bracketed_commas_and_merges_repeats() {
        let action = plan_of(&[
            "configs",
            "alter",
            "--entity-type",
            "topic",
            "--entity-name",
            "t",
            "--add-config",
            "cleanup.policy=[compact,delete],retention.ms=1000",
            "--add-config",
            "segment.ms=10",
            "--delete-config",
            "a, b",
            "--subtract-config",
            "x=[1,2]",
            "--validate-only",
        ])
        .unwrap();
        let Action::AlterConfigs(req) = action else {
            panic!("planned {action:?}");
        };
        assert!(req.validate_only);
        let r = &req.resources[0];
        assert_eq!(
            (r.resource_type, r.resource_name.as_str()),
            (ConfigResourceType::Topic as i32, "t")
        );
        let ops: Vec<(&str, i32, Option<&str>)> = r
            .configs
            .iter()
            .map(|c| (c.name.as_str(), c.config_operation, c.value.as_deref()))
            .collect();
        use kraft_client::proto::ConfigOperation::{Delete, Set, Subtract};
        assert_eq!(
            ops,
            [
                ("cleanup.policy", Set as i32, Some("compact,delete")),
                ("retention.ms", Set as i32, Some("1000")),
                ("segment.ms", Set as i32, Some("10")),
                ("a", Delete as i32, None),
                ("b", Delete as i32, None),
                ("x", Subtract as i32, Some("1,2")),
            ]
        );
    }

    #[test]
    fn bad_config_flags_name_the_flag_and_rule() {
        let err = plan_of(&[
            "configs",
            "alter",
            "--entity-type",
            "topics",
            "--entity-name",
            "t",
            "--add-config",
            "a=[1,2",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        let msg = err.to_string();
        assert!(
            msg.contains("--add-config") && msg.contains("unbalanced '['"),
            "{msg}"
        );

        let err = plan_of(&[
            "configs",
            "alter",
            "--entity-type",
            "topics",
            "--entity-name",
            "t",
            "--add-config",
            "a=1",
            "--append-config",
            "a=2",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict);
        assert!(
            err.to_string()
                .contains("a is given to both --add-config and --append-config"),
            "{err}"
        );
        assert!(err.to_string().contains("kraftctl configs alter"), "{err}");

        let err = plan_of(&[
            "configs",
            "alter",
            "--entity-type",
            "topics",
            "--entity-name",
            "t",
        ])
        .unwrap_err();
        assert!(err.to_string().contains("nothing to alter"), "{err}");

        let err = plan_of(&[
            "configs",
            "describe",
            "--entity-type",
            "brokers",
            "--entity-name",
            "b1",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidValue);
        assert!(err.to_string().contains("must be a broker id"), "{err}");

        // Exactly one of --entity-name and --entity-default.
        for args in [
            &["configs", "describe", "--entity-type", "brokers"][..],
            &[
                "configs",
                "describe",
                "--entity-type",
                "brokers",
                "--entity-name",
                "1",
                "--entity-default",
            ],
        ] {
            assert!(plan_of(args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn configs_describe_broker_default_and_id() {
        let Action::DescribeConfigs { req, all } = plan_of(&[
            "configs",
            "describe",
            "--entity-type",
            "brokers",
            "--entity-default",
            "--all",
        ])
        .unwrap() else {
            panic!();
        };
        assert!(all);
        let r = &req.resources[0];
        assert_eq!(
            (r.resource_type, r.resource_name.as_str()),
            (ConfigResourceType::Broker as i32, "")
        );
        let Action::DescribeConfigs { req, all } = plan_of(&[
            "configs",
            "describe",
            "--entity-type",
            "brokers",
            "--entity-name",
            "3",
        ])
        .unwrap() else {
            panic!();
        };
        assert!(!all);
        assert_eq!(req.resources[0].resource_name, "3");
    }

    #[test]
    fn reassignment_flags_pair_up_in_order() {
        let Action::AlterReassignments { plan, cancel } = plan_of(&[
            "reassignments",
            "add",
            "--topic",
            "t",
            "--partition",
            "0",
            "--replicas",
            "1,2,3",
            "--topic",
            "u",
            "--partition",
            "4",
            "--replicas",
            "2",
        ])
        .unwrap() else {
            panic!();
        };
        assert!(!cancel);
        let got: Vec<(&str, i32, &[i32])> = plan
            .iter()
            .map(|p| (p.topic.as_str(), p.partition, p.replicas.as_slice()))
            .collect();
        assert_eq!(got, [("t", 0, &[1, 2, 3][..]), ("u", 4, &[2][..])]);

        let err = plan_of(&[
            "reassignments",
            "add",
            "--topic",
            "t",
            "--partition",
            "0",
            "--replicas",
            "1",
            "--topic",
            "u",
            "--replicas",
            "2",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WrongNumberOfValues);
        assert!(
            err.to_string()
                .contains("got 2 --topic, 1 --partition, 2 --replicas"),
            "{err}"
        );

        let Action::AlterReassignments { plan, cancel } = plan_of(&[
            "reassignments",
            "cancel",
            "--topic",
            "t",
            "--partition",
            "1",
        ])
        .unwrap() else {
            panic!();
        };
        assert!(cancel);
        assert_eq!((plan[0].topic.as_str(), plan[0].partition), ("t", 1));
        // Neither flags nor a file: usage error.
        assert!(plan_of(&["reassignments", "add"]).is_err());
    }

    #[test]
    fn reassignment_json_file_is_read_and_checked_at_parse_time() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("plan.json");
        std::fs::write(
            &good,
            r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2,3],"log_dirs":["any","any","any"]}]}"#,
        )
        .unwrap();
        let good = good.to_str().unwrap();
        let Action::AlterReassignments { plan, .. } =
            plan_of(&["reassignments", "add", "--reassignment-json-file", good]).unwrap()
        else {
            panic!();
        };
        assert_eq!(plan[0].replicas, [1, 2, 3]);
        // The same file cancels its partitions.
        let Action::AlterReassignments { plan, cancel } =
            plan_of(&["reassignments", "cancel", "--reassignment-json-file", good]).unwrap()
        else {
            panic!();
        };
        assert!(cancel);
        assert_eq!(plan.len(), 1);

        let err = plan_of(&[
            "reassignments",
            "add",
            "--reassignment-json-file",
            good,
            "--topic",
            "t",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict);

        let bad = dir.path().join("bad.json");
        std::fs::write(
            &bad,
            r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[]}]}"#,
        )
        .unwrap();
        let err = plan_of(&[
            "reassignments",
            "add",
            "--reassignment-json-file",
            bad.to_str().unwrap(),
        ])
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValueValidation);
        let msg = err.to_string();
        assert!(
            msg.contains("--reassignment-json-file") && msg.contains("the replica list is empty"),
            "{msg}"
        );
        let missing = dir.path().join("missing.json");
        let err = plan_of(&[
            "reassignments",
            "add",
            "--reassignment-json-file",
            missing.to_str().unwrap(),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("cannot read"), "{err}");
    }

    #[test]
    fn leaders_elect_targets() {
        let Action::ElectLeaders(req) = plan_of(&[
            "leaders",
            "elect",
            "--election-type",
            "UNCLEAN",
            "--topic",
            "t",
            "--partition",
            "2",
            "--partition",
            "0",
            "--partition",
            "2",
        ])
        .unwrap() else {
            panic!();
        };
        assert_eq!(req.election_type, ElectionType::Unclean as i32);
        assert_eq!(req.topic_partitions[0].topic, "t");
        assert_eq!(req.topic_partitions[0].partitions, [0, 2]);

        let Action::ElectLeaders(req) = plan_of(&[
            "leaders",
            "elect",
            "--election-type",
            "preferred",
            "--all-topic-partitions",
        ])
        .unwrap() else {
            panic!();
        };
        assert!(req.topic_partitions.is_empty());

        for (args, needle) in [
            (
                &["leaders", "elect", "--election-type", "preferred"][..],
                "--topic",
            ),
            (
                &[
                    "leaders",
                    "elect",
                    "--election-type",
                    "preferred",
                    "--topic",
                    "t",
                ],
                "--topic needs at least one --partition",
            ),
            (
                &[
                    "leaders",
                    "elect",
                    "--election-type",
                    "preferred",
                    "--all-topic-partitions",
                    "--topic",
                    "t",
                    "--partition",
                    "0",
                ],
                "cannot be used with",
            ),
            (
                &[
                    "leaders",
                    "elect",
                    "--election-type",
                    "preferred",
                    "--partition",
                    "0",
                ],
                "--topic",
            ),
            (
                &[
                    "leaders",
                    "elect",
                    "--election-type",
                    "random",
                    "--all-topic-partitions",
                ],
                "--election-type",
            ),
        ] {
            let err = plan_of(args).unwrap_err();
            assert!(err.to_string().contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn topics_alter_delete_and_features() {
        let Action::CreatePartitions(req) =
            plan_of(&["topics", "alter", "--topic", "t", "--partitions", "8"]).unwrap()
        else {
            panic!();
        };
        assert_eq!((req.topics[0].count, req.validate_only), (8, false));
        assert!(plan_of(&["topics", "alter", "--topic", "t"]).is_err());

        let Action::DeleteTopics(req) =
            plan_of(&["topics", "delete", "--topic-id", "X", "--topic", "a"]).unwrap()
        else {
            panic!();
        };
        assert_eq!(req.topics.len(), 2);
        assert!(plan_of(&["topics", "delete"]).is_err());

        let Action::UpdateFeatures(req) = plan_of(&[
            "features",
            "downgrade",
            "--feature",
            "metadata.version",
            "--version",
            "0",
        ])
        .unwrap() else {
            panic!();
        };
        let u = &req.feature_updates[0];
        assert_eq!(
            (u.feature.as_str(), u.max_version_level, u.upgrade_type),
            (
                "metadata.version",
                0,
                FeatureUpgradeType::SafeDowngrade as i32
            )
        );
        let err =
            plan_of(&["features", "upgrade", "--feature", "f", "--version", "0"]).unwrap_err();
        assert!(err.to_string().contains("--version"), "{err}");
        assert!(matches!(
            plan_of(&["brokers", "unregister", "--id", "4"]).unwrap(),
            Action::UnregisterBroker { id: 4 }
        ));
    }
}
