//! The template's policy statements per function, resolved with the local
//! stack's values, and IAM's evaluation of one request against them.
//!
//! Resolution: `template.yaml` names the table, the key and the parameters
//! by `!Ref` in its global environment (`DYNAMODB_TABLE: !Ref Table`,
//! `ROUTE53_HOSTED_ZONE_ID: !Ref DelegationHostedZoneId`, …), so a resource's
//! or parameter's local value is that variable's value (the parameter's
//! default when unset). `!GetAtt Table.Arn` becomes the table's ARN,
//! `!GetAtt SecretsKey.Arn` the key's, and `!Sub` substitutes those and
//! `AWS::Partition`, `AWS::Region` and `AWS::AccountId`; `AWS::StackName`
//! (`!Ref` or in a `!Sub`) is the value of the global variable set from it
//! (`STACK_NAME`, the product's default when unset). (The YAML reader
//! keeps a tagged scalar's text and drops its tag: `!GetAtt Table.Arn`
//! reads as `Table.Arn`, which no ARN or wildcard looks like. A tagged
//! sequence, a condition function or `!If`, reads as its long form,
//! `{Fn::If: [...]}`: see [`load_template`].) A policy given by `!If` is
//! the branch its condition picks (`!Equals`, `!Not`, `!And`, `!Or` on the
//! same local values); `AWS::NoValue` is none. A parameter's `!Ref` is
//! its local value.
//!
//! Evaluation (IAM's rules for one identity-based policy): an explicit Deny
//! wins; else any Allow whose action and resource patterns match and whose
//! conditions all hold allows; else the request is implicitly denied.
//! Actions match case insensitively, resources case sensitively; `*`
//! matches any run of characters and `?` one.

use std::collections::BTreeMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;
use yaml_rust2::{Yaml, YamlLoader};

use super::ACCOUNT;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// One statement, its intrinsics resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub effect: Effect,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    /// Every condition must hold for the statement to apply.
    pub conditions: Vec<Condition>,
}

/// One condition: `operator` (`StringEquals`, `StringLike`, their
/// `ForAllValues:`/`ForAnyValue:` set forms, `Null`) on `key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub operator: String,
    pub key: String,
    pub values: Vec<String>,
}

/// A request's condition keys and their values.
pub type Context = BTreeMap<String, Vec<String>>;

impl Condition {
    /// Whether the condition holds for `context`, as IAM evaluates it: a
    /// single-valued operator needs the key present and one of its values
    /// matching; `ForAllValues` holds when every value of the key (none
    /// included) matches one of the condition's; `ForAnyValue` when one
    /// does; `Null` tests the key's absence.
    pub fn holds(&self, context: &Context) -> bool {
        let (set, op) = match self.operator.split_once(':') {
            Some((set, op)) => (Some(set), op),
            None => (None, self.operator.as_str()),
        };
        let present = context.get(&self.key);
        if op == "Null" {
            let absent = present.is_none_or(Vec::is_empty);
            return self.values.iter().any(|v| (v == "true") == absent);
        }
        let one = |value: &String| {
            self.values.iter().any(|pattern| match op {
                "StringEquals" => pattern == value,
                "StringEqualsIgnoreCase" => pattern.eq_ignore_ascii_case(value),
                "StringLike" => wildcard(pattern, value),
                _ => false,
            })
        };
        let values = present.map(Vec::as_slice).unwrap_or_default();
        match set {
            Some("ForAllValues") => values.iter().all(one),
            Some("ForAnyValue") => values.iter().any(one),
            _ => !values.is_empty() && values.iter().any(one),
        }
    }
}

/// What IAM decides for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// No statement allows it.
    ImplicitDeny,
    /// A Deny statement matches it.
    ExplicitDeny,
}

/// Every function's statements, by the binary it builds.
#[derive(Clone, Debug, Default)]
pub struct Policies {
    pub by_function: BTreeMap<String, Vec<Statement>>,
}

/// The pseudo parameter naming the deployment: the global variable set
/// from it holds its local value (`STACK_NAME`).
const STACK_NAME: &str = "AWS::StackName";

/// The values resolution needs.
struct Values<'a> {
    doc: &'a Yaml,
    region: String,
    /// Resource or parameter name → the global variable set from it.
    variable_of: BTreeMap<String, String>,
    value: &'a dyn Fn(&str) -> Option<String>,
}

impl Values<'_> {
    /// The local value of a parameter, resource or pseudo parameter `!Ref`.
    fn reference(&self, name: &str) -> String {
        let from_env = self.variable_of.get(name).and_then(|var| (self.value)(var));
        from_env.unwrap_or_else(|| match name {
            // The product's own default, as the functions read it unset.
            STACK_NAME => custom_domains::config::DEFAULT_STACK_NAME.to_owned(),
            _ => {
                let default = &self.doc["Parameters"][name]["Default"];
                default.as_str().map(str::to_owned).unwrap_or_default()
            }
        })
    }

    /// `!GetAtt <name>.Arn`.
    fn arn_of(&self, name: &str) -> String {
        let id = self.reference(name);
        let kind = self.doc["Resources"][name]["Type"]
            .as_str()
            .unwrap_or_default();
        match kind {
            "AWS::DynamoDB::Table" => {
                format!("arn:aws:dynamodb:{}:{ACCOUNT}:table/{id}", self.region)
            }
            "AWS::KMS::Key" if id.starts_with("arn:") => id,
            "AWS::KMS::Key" => format!("arn:aws:kms:{}:{ACCOUNT}:key/{id}", self.region),
            other => format!("unresolved {other} {name}"),
        }
    }

    /// `y`, or the branch of `y` its condition picks if it is an `!If`;
    /// `None` for `AWS::NoValue`.
    fn chosen<'y>(&self, y: &'y Yaml) -> Option<&'y Yaml> {
        let chosen = match y["Fn::If"].as_vec() {
            Some(branches) => {
                let condition = branches.first()?.as_str()?;
                branches.get(if self.holds(condition) { 1 } else { 2 })?
            }
            None => y,
        };
        match chosen.as_str() {
            Some("AWS::NoValue") => None,
            _ => Some(chosen),
        }
    }

    /// Whether the template's condition `name` holds for the local values.
    fn holds(&self, name: &str) -> bool {
        self.evaluate(&self.doc["Conditions"][name])
    }

    fn evaluate(&self, y: &Yaml) -> bool {
        let args = |f: &str| y[f].as_vec().map(Vec::as_slice);
        if let Some(name) = y["Condition"].as_str() {
            self.holds(name)
        } else if let Some([a, b]) = args("Fn::Equals") {
            self.operand(a) == self.operand(b)
        } else if let Some([a]) = args("Fn::Not") {
            !self.evaluate(a)
        } else if let Some(all) = args("Fn::And") {
            all.iter().all(|c| self.evaluate(c))
        } else if let Some(any) = args("Fn::Or") {
            any.iter().any(|c| self.evaluate(c))
        } else {
            false
        }
    }

    fn operand(&self, y: &Yaml) -> String {
        self.resolve(y.as_str().unwrap_or_default())
    }

    fn resolve(&self, text: &str) -> String {
        // `!Ref AWS::StackName` or `!Ref <parameter>`, read without its tag.
        if text == STACK_NAME || !self.doc["Parameters"][text].is_badvalue() {
            return self.reference(text);
        }
        // `!GetAtt X.Arn`, read without its tag.
        if let Some(name) = text
            .strip_suffix(".Arn")
            .filter(|n| !n.contains([':', '/', '$']))
        {
            return self.arn_of(name);
        }
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find('}') else {
                break;
            };
            let name = &rest[start + 2..start + end];
            out.push_str(&match name {
                "AWS::Partition" => "aws".to_owned(),
                "AWS::Region" => self.region.clone(),
                "AWS::AccountId" => ACCOUNT.to_owned(),
                n => match n.strip_suffix(".Arn") {
                    Some(resource) => self.arn_of(resource),
                    None => self.reference(n),
                },
            });
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// Reads `template.yaml` as [`YamlLoader`] does, except that a sequence
/// tagged with one of CloudFormation's functions (`!If [c, a, b]`,
/// `!Equals [a, b]`, …) reads as its long form (`{Fn::If: [c, a, b]}`), so
/// a condition's `!Not` and `!And` stay apart. Tagged scalars keep their
/// text only, as before.
pub fn load_template(text: &str) -> Result<Yaml, String> {
    struct Intrinsics {
        loader: YamlLoader,
        /// Per open sequence: whether it was opened as a function's
        /// long form (a mapping to close after it).
        open: Vec<bool>,
    }
    impl MarkedEventReceiver for Intrinsics {
        fn on_event(&mut self, event: Event, mark: Marker) {
            match event {
                Event::SequenceStart(anchor, Some(tag)) if tag.handle == "!" => {
                    self.loader.on_event(Event::MappingStart(0, None), mark);
                    self.loader.on_event(
                        Event::Scalar(
                            format!("Fn::{}", tag.suffix),
                            yaml_rust2::scanner::TScalarStyle::Plain,
                            0,
                            None,
                        ),
                        mark,
                    );
                    self.loader
                        .on_event(Event::SequenceStart(anchor, None), mark);
                    self.open.push(true);
                }
                Event::SequenceStart(..) => {
                    self.loader.on_event(event, mark);
                    self.open.push(false);
                }
                Event::SequenceEnd => {
                    self.loader.on_event(event, mark);
                    if self.open.pop() == Some(true) {
                        self.loader.on_event(Event::MappingEnd, mark);
                    }
                }
                other => self.loader.on_event(other, mark),
            }
        }
    }
    let mut receiver = Intrinsics {
        loader: YamlLoader::default(),
        open: Vec::new(),
    };
    Parser::new_from_str(text)
        .load(&mut receiver, false)
        .map_err(|e| e.to_string())?;
    receiver
        .loader
        .documents()
        .first()
        .cloned()
        .ok_or_else(|| "an empty template".to_owned())
}

fn strings(y: &Yaml) -> Vec<String> {
    match y {
        Yaml::String(s) => vec![s.clone()],
        Yaml::Array(a) => a.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

fn conditions(y: &Yaml, values: &Values) -> Vec<Condition> {
    let mut all = Vec::new();
    for (operator, keys) in y.as_hash().into_iter().flatten() {
        for (key, wanted) in keys.as_hash().into_iter().flatten() {
            all.push(Condition {
                operator: operator.as_str().unwrap_or_default().to_owned(),
                key: key.as_str().unwrap_or_default().to_owned(),
                values: strings(wanted).iter().map(|v| values.resolve(v)).collect(),
            });
        }
    }
    all
}

impl Policies {
    /// Every function's statements in the template `text`; `value` gives
    /// the local value of an environment variable (unset: `None`).
    pub fn from_template(
        text: &str,
        value: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let doc = &load_template(text)?;
        let mut variable_of = BTreeMap::new();
        for (var, source) in doc["Globals"]["Function"]["Environment"]["Variables"]
            .as_hash()
            .into_iter()
            .flatten()
        {
            // `VAR: !Ref Name` reads as `VAR: Name`.
            if let (Some(var), Some(name)) = (var.as_str(), source.as_str()) {
                if !doc["Parameters"][name].is_badvalue()
                    || !doc["Resources"][name].is_badvalue()
                    || name == STACK_NAME
                {
                    variable_of.insert(name.to_owned(), var.to_owned());
                }
            }
        }
        let values = Values {
            doc,
            region: value("AWS_REGION").unwrap_or_else(|| "us-east-1".to_owned()),
            variable_of,
            value,
        };
        let mut by_function = BTreeMap::new();
        for (_, resource) in doc["Resources"].as_hash().ok_or("no Resources")? {
            if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
                continue;
            }
            let Some(binary) = resource["Metadata"]["BuildProperties"]["Binary"].as_str() else {
                continue;
            };
            let mut statements = Vec::new();
            for policy in resource["Properties"]["Policies"]
                .as_vec()
                .into_iter()
                .flatten()
            {
                let Some(policy) = values.chosen(policy) else {
                    continue;
                };
                for s in policy["Statement"].as_vec().into_iter().flatten() {
                    statements.push(Statement {
                        effect: match s["Effect"].as_str() {
                            Some("Deny") => Effect::Deny,
                            _ => Effect::Allow,
                        },
                        actions: strings(&s["Action"]),
                        resources: strings(&s["Resource"])
                            .iter()
                            .map(|r| values.resolve(r))
                            .collect(),
                        conditions: conditions(&s["Condition"], &values),
                    });
                }
            }
            by_function.insert(binary.to_owned(), statements);
        }
        Ok(Self { by_function })
    }

    /// IAM's decision for `function` calling `action` on `resource`, with
    /// the request's condition keys `context`.
    pub fn decide(
        &self,
        function: &str,
        action: &str,
        resource: &str,
        context: &Context,
    ) -> Decision {
        let statements = self
            .by_function
            .get(function)
            .map(Vec::as_slice)
            .unwrap_or_default();
        decide(statements, action, resource, context)
    }
}

/// IAM's decision for `action` on `resource` under `statements`.
pub fn decide(
    statements: &[Statement],
    action: &str,
    resource: &str,
    context: &Context,
) -> Decision {
    let matching = |s: &&Statement| {
        s.actions
            .iter()
            .any(|a| wildcard(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
            && s.resources.iter().any(|r| wildcard(r, resource))
            && s.conditions.iter().all(|c| c.holds(context))
    };
    let mut matched = statements.iter().filter(matching);
    let mut allowed = false;
    for s in matched.by_ref() {
        match s.effect {
            Effect::Deny => return Decision::ExplicitDeny,
            Effect::Allow => allowed = true,
        }
    }
    match allowed {
        true => Decision::Allowed,
        false => Decision::ImplicitDeny,
    }
}

/// IAM's wildcard match: `*` any run of characters (`/` and `:`
/// included), `?` exactly one.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = include_str!("../../../../template.yaml");

    fn local(var: &str) -> Option<String> {
        match var {
            "AWS_REGION" => Some("eu-west-1".into()),
            "DYNAMODB_TABLE" => Some("custom-domains".into()),
            "KMS_KEY_ID" => Some("k-1".into()),
            "ROUTE53_HOSTED_ZONE_ID" => Some("Z123".into()),
            "DELEGATION_ZONE" => Some("acme.example".into()),
            _ => None,
        }
    }

    /// A policy given by `!If` is there only when its condition holds for
    /// the local values: the TSIG secret's grant with an RFC 2136 zone and
    /// a secret named, to the functions that write records.
    #[test]
    fn a_conditional_policy_follows_its_condition() {
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tsig-AbCdEf";
        let with = |provider: &'static str, secret: &'static str| {
            Policies::from_template(TEMPLATE, &move |var| match var {
                "DELEGATION_PROVIDER" => Some(provider.into()),
                "RFC2136_TSIG_SECRET_ARN" => Some(secret.into()),
                v => local(v),
            })
            .unwrap()
        };
        let read = |p: &Policies, function: &str| {
            p.decide(
                function,
                "secretsmanager:GetSecretValue",
                arn,
                &Context::new(),
            ) == Decision::Allowed
        };
        let rfc2136 = with("rfc2136", arn);
        assert!(read(&rfc2136, "complete-certificate"));
        assert!(read(&rfc2136, "drift-check"));
        assert!(!read(&rfc2136, "start-certificate"));
        assert!(!read(&rfc2136, "list-domains"));
        assert!(!read(&with("route53", arn), "complete-certificate"));
        assert!(!read(&with("rfc2136", ""), "complete-certificate"));
    }

    #[test]
    fn wildcards_match_as_iam_does() {
        assert!(wildcard(
            "arn:aws:acm:*:1:certificate/*",
            "arn:aws:acm:us-east-1:1:certificate/abc"
        ));
        assert!(wildcard("*", "anything/at:all"));
        assert!(wildcard("dynamodb:*", "dynamodb:query"));
        assert!(wildcard("a?c", "abc") && !wildcard("a?c", "ac"));
        assert!(!wildcard(
            "arn:aws:dynamodb:eu-west-1:1:table/t",
            "arn:aws:dynamodb:eu-west-1:1:table/t/index/i"
        ));
        assert!(wildcard("arn:x/*/y", "arn:x/a/b/y"));
    }

    #[test]
    fn conditions_hold_as_iam_evaluates_them() {
        let c = |operator: &str, values: &[&str]| Condition {
            operator: operator.into(),
            key: "k".into(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        };
        let ctx = |values: &[&str]| -> Context {
            [(
                "k".to_owned(),
                values.iter().map(|v| (*v).to_owned()).collect(),
            )]
            .into()
        };
        let none = Context::new();
        assert!(c("StringEquals", &["a", "b"]).holds(&ctx(&["b"])));
        assert!(
            !c("StringEquals", &["a"]).holds(&none),
            "a missing key fails"
        );
        assert!(c("StringLike", &["*.zone.example"]).holds(&ctx(&["x.zone.example"])));
        assert!(c("ForAllValues:StringEquals", &["TXT"]).holds(&ctx(&["TXT", "TXT"])));
        assert!(!c("ForAllValues:StringEquals", &["TXT"]).holds(&ctx(&["TXT", "A"])));
        assert!(
            c("ForAllValues:StringEquals", &["TXT"]).holds(&none),
            "vacuously true"
        );
        assert!(c("ForAnyValue:StringEquals", &["A"]).holds(&ctx(&["TXT", "A"])));
        assert!(c("Null", &["true"]).holds(&none) && !c("Null", &["false"]).holds(&none));
    }

    /// `tags` as a request's (`RequestTag`) or a resource's (`ResourceTag`)
    /// condition keys.
    fn tagged(kind: &str, tags: &[(&str, &str)]) -> Context {
        tags.iter()
            .map(|(k, v)| (format!("aws:{kind}/{k}"), vec![(*v).to_owned()]))
            .collect()
    }

    #[test]
    fn acm_certificates_are_made_with_and_changed_only_under_the_stacks_tag() {
        let p = Policies::from_template(TEMPLATE, &local).unwrap();
        let stack = custom_domains::config::DEFAULT_STACK_NAME;
        let ours = [
            ("custom-domains:domain", "x.example.com"),
            ("custom-domains:stack", stack),
        ];
        let theirs = [("custom-domains:stack", "another-stack")];
        let untagged: [(&str, &str); 0] = [];
        let edge = "arn:aws:acm:us-east-1:123456789012:certificate/c-1";
        let regional = "arn:aws:acm:eu-west-1:123456789012:certificate/c-2";
        let new_edge = "arn:aws:acm:us-east-1:123456789012:certificate/*";
        // A deletion: of a certificate carrying the stack's tag only.
        for arn in [edge, regional] {
            let delete = |tags: &[(&str, &str)]| {
                p.decide(
                    "release-domain",
                    "acm:DeleteCertificate",
                    arn,
                    &tagged("ResourceTag", tags),
                )
            };
            assert_eq!(delete(&ours), Decision::Allowed);
            assert_eq!(delete(&untagged), Decision::ImplicitDeny);
            assert_eq!(delete(&theirs), Decision::ImplicitDeny);
        }
        // A first import: with the stack's tag in the request only (a new
        // certificate has no tags of its own), and its tagging with it.
        for action in ["acm:ImportCertificate", "acm:AddTagsToCertificate"] {
            let import = |tags: &[(&str, &str)]| {
                p.decide(
                    "complete-certificate",
                    action,
                    new_edge,
                    &tagged("RequestTag", tags),
                )
            };
            assert_eq!(import(&ours), Decision::Allowed, "{action}");
            assert_eq!(import(&untagged), Decision::ImplicitDeny, "{action}");
            assert_eq!(import(&theirs), Decision::ImplicitDeny, "{action}");
        }
        // A re-import: into a certificate that kept the stack's tag; the
        // renewal functions make no new certificate.
        for function in ["renew-certificate", "renewal-sweep", "complete-certificate"] {
            let reimport = |tags: &[(&str, &str)]| {
                p.decide(
                    function,
                    "acm:ImportCertificate",
                    edge,
                    &tagged("ResourceTag", tags),
                )
            };
            assert_eq!(reimport(&ours), Decision::Allowed, "{function}");
            assert_eq!(reimport(&untagged), Decision::ImplicitDeny, "{function}");
        }
        assert_eq!(
            p.decide(
                "renew-certificate",
                "acm:ImportCertificate",
                new_edge,
                &tagged("RequestTag", &ours)
            ),
            Decision::ImplicitDeny
        );
        // A request (no resource type: "*"), with the stack's tag.
        let request = |tags: &[(&str, &str)]| {
            p.decide(
                "request-domain",
                "acm:RequestCertificate",
                "*",
                &tagged("RequestTag", tags),
            )
        };
        assert_eq!(request(&ours), Decision::Allowed);
        assert_eq!(request(&untagged), Decision::ImplicitDeny);
    }

    #[test]
    fn the_stack_name_is_the_variable_set_from_it_or_the_products_default() {
        let named = |var: &str| match var {
            "STACK_NAME" => Some("tenant-domains-prod".to_owned()),
            other => local(other),
        };
        let p = Policies::from_template(TEMPLATE, &named).unwrap();
        let delete = |stack: &str| {
            p.decide(
                "drift-check",
                "acm:DeleteCertificate",
                "arn:aws:acm:us-east-1:123456789012:certificate/c-1",
                &tagged("ResourceTag", &[("custom-domains:stack", stack)]),
            )
        };
        assert_eq!(delete("tenant-domains-prod"), Decision::Allowed);
        assert_eq!(
            delete(custom_domains::config::DEFAULT_STACK_NAME),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn an_index_needs_its_own_arn_and_a_deny_wins() {
        let p = Policies::from_template(TEMPLATE, &local).unwrap();
        let no = Context::new();
        let decide_as = |f: &str, action: &str, resource: &str| p.decide(f, action, resource, &no);
        let table = "arn:aws:dynamodb:eu-west-1:123456789012:table/custom-domains";
        let index = format!("{table}/index/PendingByTenant");
        let by_tenant = format!("{table}/index/ByTenant");
        assert_eq!(
            decide_as("start-certificate", "dynamodb:Query", table),
            Decision::Allowed
        );
        assert_eq!(
            decide_as("start-certificate", "dynamodb:Query", &index),
            Decision::Allowed
        );
        assert_eq!(
            decide_as("start-certificate", "dynamodb:Query", &by_tenant),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide_as("start-certificate", "dynamodb:Scan", table),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide_as("no-such-function", "dynamodb:GetItem", table),
            Decision::ImplicitDeny
        );
        // The key, for what the product seals only.
        let key = "arn:aws:kms:eu-west-1:123456789012:key/k-1";
        let purpose = |p: &str| -> Context {
            [(
                "kms:EncryptionContext:purpose".to_owned(),
                vec![p.to_owned()],
            )]
            .into()
        };
        assert_eq!(
            p.decide(
                "start-certificate",
                "kms:Decrypt",
                key,
                &purpose("acme-account")
            ),
            Decision::Allowed
        );
        assert_eq!(
            p.decide(
                "start-certificate",
                "kms:Decrypt",
                key,
                &purpose("anything-else")
            ),
            Decision::ImplicitDeny
        );
        assert_eq!(
            p.decide("start-certificate", "kms:Decrypt", key, &no),
            Decision::ImplicitDeny
        );
        // TXT records under the delegation zone only.
        let zone = "arn:aws:route53:::hostedzone/Z123";
        let change = |kind: &str, name: &str| -> Context {
            [
                (
                    "route53:ChangeResourceRecordSetsRecordTypes".to_owned(),
                    vec![kind.to_owned()],
                ),
                (
                    "route53:ChangeResourceRecordSetsNormalizedRecordNames".to_owned(),
                    vec![name.to_owned()],
                ),
            ]
            .into()
        };
        let r53 = |c: &Context| {
            p.decide(
                "complete-certificate",
                "route53:ChangeResourceRecordSets",
                zone,
                c,
            )
        };
        assert_eq!(r53(&change("TXT", "abc.acme.example")), Decision::Allowed);
        assert_eq!(
            r53(&change("CNAME", "abc.acme.example")),
            Decision::ImplicitDeny
        );
        assert_eq!(
            r53(&change("TXT", "abc.elsewhere.example")),
            Decision::ImplicitDeny
        );
        let statements = [
            Statement {
                effect: Effect::Allow,
                actions: vec!["s3:*".into()],
                resources: vec!["*".into()],
                conditions: Vec::new(),
            },
            Statement {
                effect: Effect::Deny,
                actions: vec!["s3:Get*".into()],
                resources: vec!["arn:b/*".into()],
                conditions: Vec::new(),
            },
        ];
        assert_eq!(
            decide(&statements, "s3:GetObject", "arn:b/k", &no),
            Decision::ExplicitDeny
        );
        assert_eq!(
            decide(&statements, "s3:PutObject", "arn:b/k", &no),
            Decision::Allowed
        );
    }
}
