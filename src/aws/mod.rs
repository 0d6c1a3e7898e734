//! The AWS adapter layer: the only place that calls the AWS SDK.
//!
//! Owns: loading one shared SDK configuration from the global flags (`--region`,
//! `--profile`, `--endpoint-url`), building per-region clients, and turning SDK
//! errors into messages that say what failed and what to do. The service modules
//! (`ec2`, ...) expose small, typed operations to the commands.

pub mod codepipeline;
pub mod ec2;
pub mod eventbridge;
pub mod inventory;
pub mod kms;
pub mod launch_templates;
pub mod organizations;
pub mod recycle_bin;
pub mod references;
pub mod refresh;
pub mod s3;
pub mod ssm;

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::error::Error;
use crate::ids;

/// The global AWS options, as given on the command line or in the environment.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    /// `--region` / `AWS_REGION`.
    pub region: Option<ids::Region>,
    /// `--profile` / `AWS_PROFILE`.
    pub profile: Option<String>,
    /// `--endpoint-url` / `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
    /// `--timeout`: no single call (its retries included) takes longer.
    pub timeout: Option<Duration>,
    /// `--max-attempts`: attempts per call, the first included (the SDK's
    /// standard retry mode; `None` is the SDK's own default).
    pub max_attempts: Option<u32>,
    /// The first retry's backoff (tests shorten it; `None` is the SDK's).
    pub initial_backoff: Option<Duration>,
}

/// A loaded SDK configuration, and the count of the HTTP requests every
/// client built from it sends.
#[derive(Debug, Clone)]
pub struct Aws {
    sdk: SdkConfig,
    endpoint: Option<String>,
    profile: Option<String>,
    calls: Arc<ApiCalls>,
    /// The retry policy of [`Aws::ec2_per_resource`]: the same attempts and
    /// backoff as every call, in adaptive mode.
    adaptive: aws_config::retry::RetryConfig,
    /// The retry partitions of [`Aws::ec2_per_resource`], by region and API.
    partitions: Arc<std::sync::Mutex<PartitionMap>>,
}

type PartitionMap =
    std::collections::HashMap<(String, &'static str), aws_sdk_ec2::config::retry::RetryPartition>;

impl Aws {
    /// Load credentials and settings once.
    pub async fn load(opts: &AwsOptions) -> Aws {
        // A server that accepts connections and never answers must not hold
        // a command for 3 attempts x 60 s per call: each attempt and each
        // call (its retries included) is bounded, by --timeout at the most.
        // Slightly above --timeout, so that the command's own deadline (which
        // names what was being done) speaks first.
        let limit = opts.timeout.unwrap_or(Duration::from_secs(30 * 60)) + Duration::from_secs(2);
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5).min(limit))
                .operation_attempt_timeout(Duration::from_secs(60).min(limit))
                .operation_timeout(Duration::from_secs(5 * 60).min(limit))
                .build(),
        );
        // The SDK's standard mode for every call: throttling (EC2's
        // RequestLimitExceeded) and transient errors back off exponentially
        // with jitter. Not adaptive mode there: its client-side limiter drops
        // to half a request a second at the first throttle and shares it with
        // every call of the partition, which turns a short burst of one API
        // into minutes for all. The calls made once per resource, by the
        // hundred, do use it, each API in a partition of its own
        // (`ec2_per_resource`): there a limiter sees only its own bucket, and
        // it climbs back within seconds as the calls succeed.
        let mut adaptive = aws_config::retry::RetryConfig::adaptive();
        if opts.max_attempts.is_some() || opts.initial_backoff.is_some() {
            let mut retry = aws_config::retry::RetryConfig::standard();
            if let Some(n) = opts.max_attempts {
                retry = retry.with_max_attempts(n.max(1));
                adaptive = adaptive.with_max_attempts(n.max(1));
            }
            if let Some(b) = opts.initial_backoff {
                retry = retry.with_initial_backoff(b);
                adaptive = adaptive.with_initial_backoff(b);
            }
            loader = loader.retry_config(retry);
        }
        if let Some(r) = &opts.region {
            loader = loader.region(Region::new(r.to_string()));
        }
        if let Some(p) = &opts.profile {
            loader = loader.profile_name(p);
        }
        if let Some(u) = &opts.endpoint_url {
            loader = loader.endpoint_url(u);
        }
        let sdk = loader.load().await;
        Aws {
            sdk,
            endpoint: opts.endpoint_url.clone(),
            profile: opts.profile.clone(),
            calls: Arc::new(ApiCalls::default()),
            adaptive,
            partitions: Arc::default(),
        }
    }

    /// Resolve the credentials once, before any call, and say in the AWS
    /// CLI's terms what to do when there are none: otherwise the first call
    /// fails minutes later with a dispatch-failure dump. A usage error (exit
    /// 2): it is the configuration that is wrong, not AWS.
    pub async fn require_credentials(&self, now: std::time::SystemTime) -> Result<(), Error> {
        use aws_credential_types::provider::ProvideCredentials;
        let Some(provider) = self.sdk.credentials_provider() else {
            return Err(Error::Usage(no_credentials()));
        };
        match provider.provide_credentials().await {
            Ok(c) => match c.expiry() {
                Some(t) if t <= now => Err(Error::Usage(format!(
                    "the AWS session has expired{}: {}",
                    self.profile_said(),
                    refresh_hint(self.profile.as_deref())
                ))),
                _ => Ok(()),
            },
            Err(e) => {
                Err(Error::Usage(credentials_problem(
                    &crate::error::render_chain(&e),
                    matches!(
                    e,
                    aws_credential_types::provider::error::CredentialsError::CredentialsNotLoaded(_)
                ),
                    self.profile.as_deref(),
                )))
            }
        }
    }

    fn profile_said(&self) -> String {
        self.profile
            .as_deref()
            .map_or_else(String::new, |p| format!(" (profile `{p}`)"))
    }

    /// Every HTTP request sent so far by the clients of this configuration,
    /// by `service:Operation` (each attempt: retries count).
    pub fn api_calls(&self) -> std::collections::BTreeMap<String, u64> {
        self.calls.snapshot()
    }

    fn counting(&self) -> CountAttempts {
        CountAttempts(Arc::clone(&self.calls))
    }

    /// An Auto Scaling client for `region`.
    pub fn autoscaling(&self, region: &str) -> aws_sdk_autoscaling::Client {
        let conf = aws_sdk_autoscaling::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .interceptor(self.counting())
            .build();
        aws_sdk_autoscaling::Client::from_conf(conf)
    }

    /// An EventBridge client for `region`.
    pub fn eventbridge(&self, region: &str) -> aws_sdk_eventbridge::Client {
        let conf = aws_sdk_eventbridge::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .interceptor(self.counting())
            .build();
        aws_sdk_eventbridge::Client::from_conf(conf)
    }

    /// An S3 client (path-style addressing when an endpoint override is set:
    /// local emulators).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk)
            .force_path_style(self.endpoint.is_some())
            .interceptor(self.counting())
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// An SSM client for `region` (the channels' parameters).
    pub fn ssm(&self, region: &str) -> aws_sdk_ssm::Client {
        let conf = aws_sdk_ssm::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .interceptor(self.counting())
            .build();
        aws_sdk_ssm::Client::from_conf(conf)
    }

    /// A KMS client for `region` (the keys that encrypt shared images).
    pub fn kms(&self, region: &str) -> aws_sdk_kms::Client {
        let conf = aws_sdk_kms::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .interceptor(self.counting())
            .build();
        aws_sdk_kms::Client::from_conf(conf)
    }

    /// An Organizations client. Organizations has one endpoint per
    /// partition, in us-east-1 for `aws` (Organizations API reference,
    /// "Endpoints"), cn-northwest-1 for `aws-cn`, us-gov-west-1 for
    /// `aws-us-gov`: the partition is the configured region's.
    pub fn organizations(&self) -> aws_sdk_organizations::Client {
        let home = match self.default_region() {
            Some(r) if r.starts_with("cn-") => "cn-northwest-1",
            Some(r) if r.starts_with("us-gov-") => "us-gov-west-1",
            _ => "us-east-1",
        };
        let conf = aws_sdk_organizations::config::Builder::from(&self.sdk)
            .region(Region::new(home))
            .interceptor(self.counting())
            .build();
        aws_sdk_organizations::Client::from_conf(conf)
    }

    /// A Recycle Bin client for `region` (its retention rules).
    pub fn rbin(&self, region: &str) -> aws_sdk_rbin::Client {
        let conf = aws_sdk_rbin::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .interceptor(self.counting())
            .build();
        aws_sdk_rbin::Client::from_conf(conf)
    }

    /// A CodePipeline client.
    pub fn codepipeline(&self) -> aws_sdk_codepipeline::Client {
        let conf = aws_sdk_codepipeline::config::Builder::from(&self.sdk)
            .interceptor(self.counting())
            .build();
        aws_sdk_codepipeline::Client::from_conf(conf)
    }

    /// The region the SDK resolved: `--region`, then `AWS_REGION`, then the
    /// profile's. The one place that fallback lives.
    /// A name from the profile that is not a region name counts as none
    /// here; [`Aws::require_region`] says which.
    pub fn default_region(&self) -> Option<ids::Region> {
        self.sdk
            .region()
            .and_then(|r| ids::Region::parse(r.as_ref()).ok())
    }

    /// [`Aws::default_region`], or a usage error saying that `what` needs
    /// one and how to give it.
    pub fn require_region(&self, what: &str) -> Result<ids::Region, Error> {
        match self.sdk.region() {
            Some(r) => ids::Region::parse(r.as_ref()).map_err(|e| {
                Error::Usage(format!(
                    "{what}: the configured region {e}; fix the profile's region or pass --region"
                ))
            }),
            None => Err(Error::Usage(format!(
                "{what} needs a region: pass --region, set AWS_REGION, or give the profile a region"
            ))),
        }
    }

    /// The endpoint override, if any (for messages).
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// The shared config.
    pub fn sdk(&self) -> &SdkConfig {
        &self.sdk
    }

    /// The account these credentials act in (`sts:GetCallerIdentity`, which
    /// needs no permission), asked in `region`.
    pub async fn account_id(&self, region: &str) -> Result<ids::AccountId, Error> {
        let conf = aws_sdk_sts::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .interceptor(self.counting())
            .build();
        let out = aws_sdk_sts::Client::from_conf(conf)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| {
                aws_error(
                    "finding the account (sts:GetCallerIdentity)",
                    &e,
                    self.endpoint(),
                )
            })?;
        let account = out
            .account()
            .ok_or_else(|| Error::Other("sts:GetCallerIdentity named no account".into()))?;
        ids::AccountId::parse(account)
            .map_err(|e| Error::Other(format!("sts:GetCallerIdentity answered {e}")))
    }

    /// The same configuration acting in another account: credentials from
    /// STS `AssumeRole` into `role_arn` (asked of STS in `region`),
    /// refreshed by the SDK before they expire. The role is assumed here,
    /// once, so that a role that is missing or does not trust these
    /// credentials is named at once rather than in the first call made with
    /// it. Its API calls are counted on their own (a report per account
    /// says what was asked of that account), and its retry partitions are
    /// new (another account has buckets of its own).
    pub async fn assume(&self, role_arn: &str, region: &str) -> Result<Aws, Error> {
        use aws_credential_types::provider::ProvideCredentials;
        let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name("ami-builder")
            .region(Region::new(region.to_string()))
            .configure(&self.sdk)
            .build()
            .await;
        if let Err(e) = provider.provide_credentials().await {
            return Err(Error::Aws {
                context: format!("assuming the role {role_arn}"),
                message: format!(
                    "{}; check that the role exists and that its trust policy admits this account's role",
                    crate::error::render_chain(&e)
                ),
            });
        }
        let sdk = self
            .sdk
            .to_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(provider),
            )
            .build();
        Ok(Aws {
            sdk,
            endpoint: self.endpoint.clone(),
            profile: self.profile.clone(),
            calls: Arc::default(),
            adaptive: self.adaptive.clone(),
            partitions: Arc::default(),
        })
    }

    /// An EC2 client for `region`.
    pub fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        let conf = aws_sdk_ec2::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .interceptor(self.counting())
            .build();
        aws_sdk_ec2::Client::from_conf(conf)
    }

    /// An EC2 client for the calls made once per resource, by the hundred
    /// (`DeregisterImage`, `DeleteSnapshot`, the sharing reads): `action`
    /// names the API. EC2 throttles each API in each region with a bucket
    /// of its own ("Request throttling for the Amazon EC2 API"), so each
    /// (region, API) gets its own SDK retry partition, in the SDK's adaptive
    /// mode: its client-side rate limiter learns that bucket's refill rate
    /// from the `RequestLimitExceeded` answers and paces the calls to it,
    /// where the standard mode's backoff alone lets a long run of throttled
    /// attempts use up `--max-attempts`. One API's throttling then does not
    /// slow another's (a shared partition would pace deletions of snapshots
    /// to the rate of deregistrations). The partitions (each a retry quota
    /// and a rate limiter) are this configuration's own, not the process's:
    /// what one run learned of a bucket does not slow another.
    pub fn ec2_per_resource(&self, region: &str, action: &'static str) -> aws_sdk_ec2::Client {
        use aws_sdk_ec2::config::retry::{ClientRateLimiter, RetryPartition};
        let partition = {
            let mut map = self
                .partitions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry((region.to_string(), action))
                .or_insert_with(|| {
                    // as the SDK starts the limiter of a partition of its own
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0.0, |d| d.as_secs_f64());
                    RetryPartition::custom(format!("ec2-{region}-{action}"))
                        .client_rate_limiter(ClientRateLimiter::new(now))
                        .build()
                })
                .clone()
        };
        let conf = aws_sdk_ec2::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .retry_config(self.adaptive.clone())
            .retry_partition(partition)
            .interceptor(self.counting())
            .build();
        aws_sdk_ec2::Client::from_conf(conf)
    }
}

fn no_credentials() -> String {
    "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pass --profile (or set AWS_PROFILE), run `aws configure`, or run where a role is attached (CodeBuild, EC2)".into()
}

fn refresh_hint(profile: Option<&str>) -> String {
    match profile {
        Some(p) => format!("refresh it (`aws sso login --profile {p}` for an SSO profile, or new credentials for `{p}`)"),
        None => "refresh it (new AWS_SESSION_TOKEN credentials, or `aws sso login`)".into(),
    }
}

/// What a credentials-provider error means for the user, from its text:
/// the SDK's errors name the SSO token, a missing profile or nothing found,
/// but not as types a caller can match.
pub fn credentials_problem(chain: &str, not_loaded: bool, profile: Option<&str>) -> String {
    let lower = chain.to_ascii_lowercase();
    let named = profile.map_or_else(String::new, |p| format!(" `{p}`"));
    if lower.contains("sso") {
        let login = profile.map_or_else(
            || "aws sso login".to_string(),
            |p| format!("aws sso login --profile {p}"),
        );
        return format!(
            "the SSO session of profile{named} has expired or was never started: run `{login}`, then try again ({chain})"
        );
    }
    let profile_missing = lower.contains("profile")
        && [
            "not defined",
            "could not find",
            "not found",
            "no profiles",
            "does not exist",
            "missing",
        ]
        .iter()
        .any(|w| lower.contains(w));
    if profile_missing {
        return format!(
            "the AWS profile{named} does not exist in ~/.aws/config or ~/.aws/credentials (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE): `aws configure list-profiles` shows the ones that do ({chain})"
        );
    }
    if not_loaded {
        return no_credentials();
    }
    format!(
        "the AWS credentials could not be loaded{}: {chain}",
        if named.is_empty() {
            String::new()
        } else {
            format!(" for profile{named}")
        }
    )
}

/// Render an SDK error as `CODE: message` for service errors, or a plain reason
/// with a hint for transport failures (unreachable endpoint, timeout, credentials).
pub fn describe<E, R>(err: &SdkError<E, R>, endpoint: Option<&str>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            match (e.code(), e.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                _ => crate::error::render_chain(e),
            }
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            let chain = crate::error::render_chain(err);
            let target = endpoint.map_or_else(|| "the AWS endpoint".to_string(), |e| e.to_string());
            format!(
                "could not reach {target} ({chain}); check --endpoint-url / AWS_ENDPOINT_URL, the network, and that credentials are configured"
            )
        }
        _ => crate::error::render_chain(err),
    }
}

/// The service error code, if the error is a service error.
pub fn error_code<E, R>(err: &SdkError<E, R>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(se) => se.err().code(),
        _ => None,
    }
}

/// Build an [`Error::Aws`] from an SDK error.
pub fn aws_error<E, R>(
    context: impl std::fmt::Display,
    err: &SdkError<E, R>,
    endpoint: Option<&str>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    Error::Aws {
        context: context.to_string(),
        message: describe(err, endpoint),
    }
}

/// Counts every HTTP request a client sends, by `service:Operation`, just
/// before it goes on the wire: every attempt, retries included, so the
/// figure is what AWS saw. An EC2 request with `DryRun=true` counts as
/// `ec2:Operation (dry run)`.
#[derive(Debug, Clone)]
struct CountAttempts(Arc<ApiCalls>);

impl Intercept for CountAttempts {
    fn name(&self) -> &'static str {
        "ami-builder::CountAttempts"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            let dry_run = context
                .request()
                .body()
                .bytes()
                .is_some_and(|b| memchr::memmem::find(b, b"DryRun=true").is_some());
            self.0
                .count(&operation_label(m.service(), m.name(), dry_run));
        }
        Ok(())
    }
}

/// `ec2:DeregisterImage`: the IAM prefix of the SDK's service name and the
/// operation (`EventBridge` is `events`), `(dry run)` appended for DryRun.
pub fn operation_label(service: &str, operation: &str, dry_run: bool) -> String {
    let prefix = match service {
        "EventBridge" => "events".to_string(),
        other => other.to_ascii_lowercase().replace(' ', ""),
    };
    let dry = if dry_run { " (dry run)" } else { "" };
    format!("{prefix}:{operation}{dry}")
}

/// HTTP requests sent, by operation (`-v` logs them; prune's JSON report
/// carries them), counted by the `CountAttempts` interceptor on every client [`Aws`]
/// builds.
#[derive(Debug, Default)]
pub struct ApiCalls(std::sync::Mutex<std::collections::BTreeMap<String, u64>>);

impl ApiCalls {
    /// Count one call.
    pub fn count(&self, op: &str) {
        if let Ok(mut m) = self.0.lock() {
            *m.entry(op.to_string()).or_default() += 1;
        }
    }
    /// A snapshot of the counts.
    pub fn snapshot(&self) -> std::collections::BTreeMap<String, u64> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_labelled_like_iam_actions() {
        assert_eq!(
            operation_label("EC2", "DeregisterImage", false),
            "ec2:DeregisterImage"
        );
        assert_eq!(
            operation_label("EC2", "DeleteSnapshot", true),
            "ec2:DeleteSnapshot (dry run)"
        );
        assert_eq!(
            operation_label("EventBridge", "PutEvents", false),
            "events:PutEvents"
        );
        assert_eq!(
            operation_label("Auto Scaling", "DescribeAutoScalingGroups", false),
            "autoscaling:DescribeAutoScalingGroups"
        );
        assert_eq!(
            operation_label("STS", "GetCallerIdentity", false),
            "sts:GetCallerIdentity"
        );
    }
}
