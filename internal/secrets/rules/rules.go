// Package rules holds pipeguard's default detection rules and writes them
// as gitleaks-format TOML, so the default ruleset can be exported,
// reviewed, extended with [extend] useDefault, and read by gitleaks too.
//
// The patterns are pipeguard's own, written from the published token
// formats of each provider. Two shapes cover almost everything:
//
//   - token: a self-identifying token with a fixed prefix (ghp_, xoxb-,
//     sk_live_ ...), found anywhere, bounded by non-token characters;
//   - assigned: a value of a given shape assigned to a name that mentions
//     the provider (DATADOG_API_KEY = "…", "stripeSecret": "…").
//
// Rule ids follow gitleaks' ids where the provider is the same, so that
// findings, .gitleaksignore files and baselines carry over.
package rules

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Rule is one default rule.
type Rule struct {
	ID          string
	Description string
	Regex       string
	Keywords    []string
	SecretGroup int
	Entropy     float64
	Path        string
	Severity    string
	// Stopwords and AllowRegexes suppress well-known placeholders.
	Stopwords    []string
	AllowRegexes []string
	// AllowMatchRegexes are checked against the whole match (name and
	// value), to drop values whose name says they are not secrets.
	AllowMatchRegexes []string
}

// Value shapes.
func hex(n int) string      { return fmt.Sprintf("[a-f0-9]{%d}", n) }
func alnum(n int) string    { return fmt.Sprintf("[a-zA-Z0-9]{%d}", n) }
func lowAlnum(n int) string { return fmt.Sprintf("[a-z0-9]{%d}", n) }
func rng(cls string, lo, hi int) string {
	return fmt.Sprintf("%s{%d,%d}", cls, lo, hi)
}

const uuid = `[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`

// tokenEnd: the character after a token must not continue it.
const tokenEnd = `(?:[^a-zA-Z0-9_+/=-]|$)`

// token builds a rule for a self-identifying token: body must start with
// a literal prefix, which is also the keyword.
func token(id, desc, body string, keywords ...string) Rule {
	if len(keywords) == 0 {
		keywords = []string{literalPrefix(body)}
	}
	// Entropy 3 drops placeholders such as ghp_xxxxxxxx… while every
	// random token clears it easily.
	return Rule{ID: id, Description: desc, Regex: `(?:^|[^a-zA-Z0-9_])(` + body + `)` + tokenEnd, Keywords: keywords, SecretGroup: 1, Entropy: 3}
}

// assigned builds a rule for a value assigned to a name mentioning one of
// the keywords: NAME [=|:|:=|=>|,] VALUE, in the quoting styles of code
// and config files.
func assigned(id, desc string, keywords []string, value string) Rule {
	names := make([]string, len(keywords))
	for i, k := range keywords {
		names[i] = regexp.QuoteMeta(k)
	}
	re := `(?i)[a-z0-9_.-]{0,40}?(?:` + strings.Join(names, "|") + `)[a-z0-9_.\t -]{0,24}?` +
		`["']?\s{0,3}(?:=|:=|::=|:|=>|\?=|,|\|\|=?)\s{0,3}[\x60"'=]{0,2}\s{0,2}` +
		`(` + value + `)(?:[\x60"'\s;,)\]}]|\\[nrt]|$)`
	return Rule{ID: id, Description: desc, Regex: re, Keywords: keywords, SecretGroup: 1}
}

func withEntropy(r Rule, e float64) Rule { r.Entropy = e; return r }

// literalPrefix returns the leading literal of a pattern, lower-cased.
func literalPrefix(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '\\' && i+1 < len(p) && strings.ContainsRune(`.-$^*+?()[]{}|/`, rune(p[i+1])) {
			b.WriteByte(p[i+1])
			i++
			continue
		}
		if strings.ContainsRune(`[(.*+?{|\^$`, rune(c)) {
			break
		}
		b.WriteByte(c)
	}
	return strings.ToLower(b.String())
}

// placeholder stopwords common to all generic rules.
var placeholders = []string{"example", "changeme", "placeholder", "xxxxxxxx", "your_", "your-", "<your", "dummy", "sample", "redacted", "test1234", "password123", "00000000"}

// Default returns the default ruleset.
func Default() []Rule {
	rs := []Rule{
		// Cloud platforms.
		token("aws-access-token", "AWS access key id", `(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}`, "akia", "asia", "abia", "acca", "a3t"),
		assigned("aws-secret-access-key", "AWS secret access key", []string{"aws_secret_access_key", "aws_secret_key", "secretaccesskey", "aws_secret"}, `[A-Za-z0-9/+]{40}`),
		token("gcp-api-key", "Google API key", `AIza[0-9A-Za-z_-]{35}`),
		token("google-oauth-client-secret", "Google OAuth client secret", `GOCSPX-[A-Za-z0-9_-]{28}`),
		token("gcp-oauth-access-token", "Google OAuth access token", `ya29\.[0-9A-Za-z_-]{30,200}`),
		token("firebase-cloud-messaging-key", "Firebase Cloud Messaging server key", `AAAA[A-Za-z0-9_-]{7}:[A-Za-z0-9_-]{140}`, "aaaa"),
		{ID: "azure-ad-client-secret", Description: "Azure AD client secret", Regex: `(?:^|[^a-zA-Z0-9_~.-])([a-zA-Z0-9_~.]{3}[0-9]Q~[a-zA-Z0-9_~.-]{31,34})` + tokenEnd, Keywords: []string{"q~"}, SecretGroup: 1},
		token("azure-storage-account-key", "Azure storage account key", `AccountKey=[a-zA-Z0-9+/]{86}==`, "accountkey="),
		assigned("azure-devops-pat", "Azure DevOps personal access token", []string{"azure_devops", "azuredevops", "ado_pat", "devops_pat"}, lowAlnum(52)),
		token("alibaba-access-key-id", "Alibaba Cloud AccessKey id", `LTAI[a-zA-Z0-9]{20}`),
		assigned("alibaba-secret-key", "Alibaba Cloud AccessKey secret", []string{"alibaba", "aliyun"}, alnum(30)),
		token("digitalocean-pat", "DigitalOcean personal access token", `dop_v1_[a-f0-9]{64}`),
		token("digitalocean-access-token", "DigitalOcean OAuth access token", `doo_v1_[a-f0-9]{64}`),
		token("digitalocean-refresh-token", "DigitalOcean OAuth refresh token", `dor_v1_[a-f0-9]{64}`),
		token("heroku-api-key-v2", "Heroku API key", `HRKU-AA[0-9a-zA-Z_-]{58}`),
		assigned("heroku-api-key", "Heroku API key", []string{"heroku"}, uuid),
		token("openshift-user-token", "OpenShift user token", `sha256~[\w-]{43}`),
		token("flyio-access-token", "Fly.io access token", `fo1_[\w-]{43}`),
		token("flyio-macaroon", "Fly.io macaroon token", `fm[12][ar]?_[a-zA-Z0-9+/]{100,1000}={0,3}`, "fm1", "fm2"),
		token("render-api-key", "Render API key", `rnd_[A-Za-z0-9]{32}`),
		token("supabase-access-token", "Supabase personal access token", `sbp_[a-f0-9]{40}`),
		assigned("vercel-access-token", "Vercel access token", []string{"vercel"}, alnum(24)),
		assigned("netlify-access-token", "Netlify access token", []string{"netlify"}, rng(`[a-zA-Z0-9=_-]`, 40, 46)),
		token("scalingo-api-token", "Scalingo API token", `tk-us-[\w-]{48}`),
		token("clickhouse-cloud-api-secret-key", "ClickHouse Cloud API secret", `4b1d[A-Za-z0-9]{38}`),
		token("databricks-api-token", "Databricks API token", `dapi[a-f0-9]{32}(?:-[0-9])?`),
		token("hashicorp-vault-service-token", "HashiCorp Vault service token", `hvs\.[\w-]{90,120}`, "hvs."),
		token("vault-batch-token", "HashiCorp Vault batch token", `hvb\.[\w-]{138,300}`, "hvb."),
		{ID: "hashicorp-tf-api-token", Description: "Terraform Cloud API token", Regex: `(?:^|[^a-zA-Z0-9])([a-zA-Z0-9]{14}\.atlasv1\.[a-zA-Z0-9_=-]{60,70})` + tokenEnd, Keywords: []string{"atlasv1"}, SecretGroup: 1},
		assigned("hashicorp-tf-password", "Terraform variable password", []string{"administrator_login_password", "admin_password"}, `[^"'\s]{8,64}`),
		token("tailscale-key", "Tailscale API or auth key", `tskey-(?:api|auth|client|scim|webhook)-[A-Za-z0-9]{8,20}-[A-Za-z0-9]{20,40}`, "tskey-"),
		token("doppler-api-token", "Doppler API token", `dp\.(?:pt|st|sa|ct|scim|audit)\.[a-zA-Z0-9]{40,44}`, "dp.pt.", "dp.st.", "dp.sa.", "dp.ct.", "dp.scim.", "dp.audit."),
		token("dynatrace-api-token", "Dynatrace API token", `dt0c01\.[a-zA-Z0-9]{24}\.[a-zA-Z0-9]{64}`),
		token("pulumi-api-token", "Pulumi access token", `pul-[a-f0-9]{40}`),
		token("prefect-api-token", "Prefect API key", `pnu_[a-zA-Z0-9]{36}`),
		token("octopus-deploy-api-key", "Octopus Deploy API key", `API-[A-Z0-9]{26}`, "api-"),
		token("harness-api-key", "Harness access token", `(?:pat|sat)\.[a-zA-Z0-9_-]{22}\.[a-zA-Z0-9]{24}\.[a-zA-Z0-9]{20}`, "pat.", "sat."),
		token("infracost-api-token", "Infracost API token", `ico-[a-zA-Z0-9]{32}`),
		token("defined-networking-api-token", "Defined Networking API token", `dnkey-[a-z0-9=_-]{26}-[a-z0-9=_-]{52}`),
		token("cloudflare-origin-ca-key", "Cloudflare Origin CA key", `v1\.0-[a-f0-9]{24}-[a-f0-9]{146}`),
		assigned("cloudflare-api-key", "Cloudflare API token", []string{"cloudflare"}, `[a-zA-Z0-9_-]{40}`),
		assigned("cloudflare-global-api-key", "Cloudflare global API key", []string{"cloudflare"}, hex(37)),
		token("planetscale-password", "PlanetScale password", `pscale_pw_[\w=.-]{32,64}`),
		token("planetscale-api-token", "PlanetScale API token", `pscale_tkn_[\w=.-]{32,64}`),
		token("planetscale-oauth-token", "PlanetScale OAuth token", `pscale_oauth_[\w=.-]{32,64}`),

		// Source hosting and CI.
		token("github-pat", "GitHub personal access token", `ghp_[0-9a-zA-Z]{36}`),
		token("github-oauth", "GitHub OAuth access token", `gho_[0-9a-zA-Z]{36}`),
		token("github-app-token", "GitHub app token", `(?:ghu|ghs)_[0-9a-zA-Z]{36}`, "ghu_", "ghs_"),
		token("github-refresh-token", "GitHub refresh token", `ghr_[0-9a-zA-Z]{36}`),
		token("github-fine-grained-pat", "GitHub fine-grained personal access token", `github_pat_[0-9a-zA-Z_]{82}`),
		token("gitlab-pat", "GitLab personal access token", `glpat-[\w-]{20}`),
		token("gitlab-pat-routable", "GitLab routable personal access token", `glpat-[0-9a-zA-Z_-]{27,300}\.[0-9a-z]{2}[0-9a-z]{7}`, "glpat-"),
		token("gitlab-ptt", "GitLab pipeline trigger token", `glptt-[0-9a-f]{40}`),
		token("gitlab-rrt", "GitLab runner registration token", `GR1348941[\w-]{20}`),
		token("gitlab-runner-authentication-token", "GitLab runner authentication token", `glrt-[0-9a-zA-Z_-]{20}`),
		token("gitlab-deploy-token", "GitLab deploy token", `gldt-[0-9a-zA-Z_-]{20}`),
		token("gitlab-feed-token", "GitLab feed token", `glft-[0-9a-zA-Z_-]{20}`),
		token("gitlab-incoming-mail-token", "GitLab incoming mail token", `glimt-[0-9a-zA-Z_-]{25}`),
		token("gitlab-kubernetes-agent-token", "GitLab Kubernetes agent token", `glagent-[0-9a-zA-Z_-]{50}`),
		token("gitlab-oauth-app-secret", "GitLab OAuth application secret", `gloas-[0-9a-zA-Z_-]{64}`),
		token("gitlab-scim-token", "GitLab SCIM token", `glsoat-[0-9a-zA-Z_-]{20}`),
		token("gitlab-cicd-job-token", "GitLab CI/CD job token", `glcbt-[0-9a-zA-Z]{1,5}_[0-9a-zA-Z_-]{20}`),
		token("gitlab-feature-flag-client-token", "GitLab feature flag client token", `glffct-[0-9a-zA-Z_-]{20}`),
		token("gitlab-session-cookie", "GitLab session cookie", `_gitlab_session=[0-9a-z]{32}`),
		assigned("bitbucket-client-id", "Bitbucket client id", []string{"bitbucket"}, lowAlnum(32)),
		assigned("bitbucket-client-secret", "Bitbucket client secret", []string{"bitbucket"}, `[a-zA-Z0-9=_-]{64}`),
		token("atlassian-api-token", "Atlassian API token", `ATATT3[A-Za-z0-9_=-]{186}`),
		assigned("atlassian-api-token-legacy", "Atlassian API token (legacy)", []string{"atlassian", "confluence", "jira"}, alnum(24)),
		token("circleci-personal-token", "CircleCI personal API token", `CCIPAT_[A-Za-z0-9]{22}_[a-f0-9]{40}`),
		token("buildkite-api-token", "Buildkite API access token", `bkua_[a-f0-9]{40}`),
		assigned("travisci-access-token", "Travis CI access token", []string{"travis"}, alnum(22)),
		assigned("droneci-access-token", "Drone CI access token", []string{"droneci", "drone_token"}, alnum(32)),
		assigned("codecov-access-token", "Codecov access token", []string{"codecov"}, `[a-zA-Z0-9-]{32,36}`),
		token("sonarqube-token", "SonarQube token", `sq[apu]_[a-f0-9]{40}`, "sqa_", "sqp_", "squ_"),
		token("sourcegraph-access-token", "Sourcegraph access token", `sgp_(?:[a-fA-F0-9]{16}|local)_[a-fA-F0-9]{40}`),
		token("artifactory-api-key", "JFrog Artifactory API key", `AKCp[A-Za-z0-9]{69}`),
		token("artifactory-reference-token", "JFrog Artifactory reference token", `cmVmd[A-Za-z0-9]{59}`),
		assigned("jfrog-api-key", "JFrog API key", []string{"jfrog", "artifactory", "bintray", "xray"}, lowAlnum(73)),
		assigned("jfrog-identity-token", "JFrog identity token", []string{"jfrog", "artifactory", "bintray", "xray"}, lowAlnum(64)),
		token("dockerhub-pat", "Docker Hub personal access token", `dckr_pat_[A-Za-z0-9_-]{27}`),
		token("npm-access-token", "npm access token", `npm_[a-zA-Z0-9]{36}`),
		token("npmrc-auth-token", "npm auth token in .npmrc", `_authToken=[A-Za-z0-9_.-]{20,200}`, "_authtoken="),
		token("pypi-upload-token", "PyPI upload token", `pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,300}`),
		token("rubygems-api-token", "RubyGems API token", `rubygems_[a-f0-9]{48}`),
		token("nuget-api-key", "NuGet API key", `oy2[a-z0-9]{43}`),
		token("clojars-api-token", "Clojars deploy token", `CLOJARS_[a-z0-9]{60}`),
		token("readme-api-token", "ReadMe API token", `rdme_[a-z0-9]{70}`),
		token("frameio-api-token", "Frame.io API token", `fio-u-[a-zA-Z0-9_=-]{64}`),

		// Messaging and collaboration.
		token("slack-bot-token", "Slack bot token", `xoxb-[0-9]{10,13}-[0-9]{10,13}[a-zA-Z0-9-]{0,40}`),
		token("slack-user-token", "Slack user token", `xox[pe](?:-[0-9]{10,13}){3}-[a-zA-Z0-9-]{28,34}`, "xoxp-", "xoxe-"),
		token("slack-app-token", "Slack app-level token", `xapp-[0-9]-[A-Z0-9]{9,12}-[0-9]{10,14}-[a-z0-9]{64}`, "xapp-"),
		token("slack-config-access-token", "Slack configuration access token", `xoxe\.xox[bp]-[0-9]-[A-Z0-9]{163,166}`, "xoxe.xoxb-", "xoxe.xoxp-"),
		token("slack-config-refresh-token", "Slack configuration refresh token", `xoxe-[0-9]-[A-Z0-9]{146}`),
		token("slack-legacy-bot-token", "Slack legacy bot token", `xoxb-[0-9]{8,14}-[a-zA-Z0-9]{18,26}`),
		token("slack-legacy-workspace-token", "Slack legacy workspace token", `xox[ar]-(?:[0-9]-)?[0-9a-zA-Z]{8,48}`, "xoxa-", "xoxr-"),
		token("slack-legacy-token", "Slack legacy token", `xox[os]-[0-9]{3,16}-[0-9]{3,16}-[0-9]{3,16}-[a-fA-F0-9]{16,80}`, "xoxo-", "xoxs-"),
		token("slack-webhook-url", "Slack webhook", `(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{43,56}`, "hooks.slack.com"),
		token("discord-webhook-url", "Discord webhook", `https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_-]{60,68}`, "discord.com/api/webhooks", "discordapp.com/api/webhooks"),
		assigned("discord-api-token", "Discord API key", []string{"discord"}, hex(64)),
		assigned("discord-client-id", "Discord client id", []string{"discord"}, `[0-9]{18}`),
		assigned("discord-client-secret", "Discord client secret", []string{"discord"}, `[a-zA-Z0-9=_-]{32}`),
		token("microsoft-teams-webhook", "Microsoft Teams webhook", `https://[a-z0-9]+\.webhook\.office\.com/webhookb2/`+uuid+`@`+uuid+`/IncomingWebhook/[a-z0-9]{32}/`+uuid, "webhook.office.com"),
		assigned("telegram-bot-api-token", "Telegram bot API token", []string{"telegram", "telegr", "tgbot"}, `[0-9]{5,16}:A[a-zA-Z0-9_-]{34}`),
		assigned("mattermost-access-token", "Mattermost access token", []string{"mattermost"}, lowAlnum(26)),
		assigned("gitter-access-token", "Gitter access token", []string{"gitter"}, `[a-z0-9_-]{40}`),
		assigned("messagebird-api-token", "MessageBird API token", []string{"messagebird", "message_bird", "message-bird"}, alnum(25)),
		assigned("messagebird-client-id", "MessageBird client id", []string{"messagebird", "message_bird", "message-bird"}, uuid),
		assigned("twilio-api-key", "Twilio API key", []string{"twilio"}, `SK[0-9a-fA-F]{32}`),
		assigned("twilio-auth-token", "Twilio auth token", []string{"twilio"}, hex(32)),
		token("sendgrid-api-token", "SendGrid API token", `SG\.[a-zA-Z0-9=_.-]{66}`, "sg."),
		token("sendinblue-api-token", "Brevo (Sendinblue) API token", `xkeysib-[a-f0-9]{64}-[a-zA-Z0-9]{16}`),
		assigned("mailgun-private-api-token", "Mailgun private API token", []string{"mailgun"}, `key-[a-f0-9]{32}`),
		assigned("mailgun-pub-key", "Mailgun public validation key", []string{"mailgun"}, `pubkey-[a-f0-9]{32}`),
		assigned("mailgun-signing-key", "Mailgun webhook signing key", []string{"mailgun"}, `[a-h0-9]{32}-[a-h0-9]{8}-[a-h0-9]{8}`),
		assigned("mailchimp-api-key", "Mailchimp API key", []string{"mailchimp", "mc_api"}, `[a-f0-9]{32}-us[0-9]{1,2}`),
		assigned("mandrill-api-key", "Mandrill API key", []string{"mandrill"}, `[A-Za-z0-9_-]{22}`),
		assigned("postmark-server-token", "Postmark server token", []string{"postmark"}, uuid),
		assigned("intercom-api-key", "Intercom API token", []string{"intercom"}, `[a-zA-Z0-9=_-]{60}`),
		assigned("zendesk-secret-key", "Zendesk secret key", []string{"zendesk"}, alnum(40)),
		assigned("freshdesk-api-key", "Freshdesk API key", []string{"freshdesk"}, alnum(20)),
		assigned("pagerduty-api-key", "PagerDuty API key", []string{"pagerduty", "pager_duty"}, `(?:u\+)?[A-Za-z0-9_+-]{20}`),
		assigned("opsgenie-api-key", "Opsgenie API key", []string{"opsgenie"}, uuid),
		token("linear-api-key", "Linear API key", `lin_api_[a-zA-Z0-9]{40}`),
		assigned("linear-client-secret", "Linear client secret", []string{"linear"}, hex(32)),
		assigned("asana-client-id", "Asana client id", []string{"asana"}, `[0-9]{16}`),
		assigned("asana-client-secret", "Asana client secret", []string{"asana"}, alnum(32)),
		token("airtable-personal-access-token", "Airtable personal access token", `pat[a-zA-Z0-9]{14}\.[a-f0-9]{64}`, "pat"),
		assigned("airtable-api-key", "Airtable API key", []string{"airtable"}, `key[a-zA-Z0-9]{14}`),
		assigned("typeform-api-token", "Typeform API token", []string{"typeform"}, `tfp_[a-zA-Z0-9_.=-]{59}`),
		assigned("notion-api-token", "Notion integration token", []string{"notion"}, `(?:secret_[A-Za-z0-9]{43}|ntn_[0-9]{11}[A-Za-z0-9]{35})`),
		token("notion-integration-token", "Notion integration token", `ntn_[0-9]{11}[A-Za-z0-9]{35}`),
		assigned("trello-api-key", "Trello API key", []string{"trello"}, hex(32)),
		assigned("monday-api-token", "monday.com API token", []string{"monday"}, `eyJhbGciOiJIUzI1NiJ9\.[A-Za-z0-9_-]{100,300}\.[A-Za-z0-9_-]{20,60}`),
		token("postman-api-token", "Postman API token", `PMAK-[a-f0-9]{24}-[a-f0-9]{34}`),
		assigned("figma-pat", "Figma personal access token", []string{"figma"}, `figd_[A-Za-z0-9_-]{40}`),
		token("figma-access-token", "Figma personal access token", `figd_[A-Za-z0-9_-]{40}`),
		assigned("contentful-delivery-api-token", "Contentful delivery API token", []string{"contentful"}, `[a-zA-Z0-9=_-]{43}`),
		assigned("squarespace-access-token", "Squarespace access token", []string{"squarespace"}, uuid),
		assigned("beamer-api-token", "Beamer API token", []string{"beamer"}, `b_[a-zA-Z0-9=_-]{44}`),
		token("1password-secret-key", "1Password secret key", `A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}`, "a3-"),
		token("1password-service-account-token", "1Password service account token", `ops_eyJ[a-zA-Z0-9+/]{250,1000}={0,3}`),
		token("age-secret-key", "age secret key", `AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}`),

		// Payments and commerce.
		token("stripe-access-token", "Stripe secret or restricted key", `(?:sk|rk)_(?:test|live|prod)_[a-zA-Z0-9]{10,99}`, "sk_test", "sk_live", "sk_prod", "rk_test", "rk_live", "rk_prod"),
		token("stripe-webhook-secret", "Stripe webhook signing secret", `whsec_[a-zA-Z0-9]{32,64}`),
		token("shopify-access-token", "Shopify access token", `shpat_[a-fA-F0-9]{32}`),
		token("shopify-custom-access-token", "Shopify custom app access token", `shpca_[a-fA-F0-9]{32}`),
		token("shopify-private-app-access-token", "Shopify private app access token", `shppa_[a-fA-F0-9]{32}`),
		token("shopify-shared-secret", "Shopify shared secret", `shpss_[a-fA-F0-9]{32}`),
		token("square-access-token", "Square access token", `(?:EAAA|sq0atp-)[\w-]{22,60}`, "eaaa", "sq0atp-"),
		token("square-secret", "Square OAuth secret", `sq0csp-[\w-]{43}`),
		token("braintree-access-token", "Braintree/PayPal access token", `access_token\$(?:production|sandbox)\$[0-9a-z]{16}\$[0-9a-f]{32}`, "access_token$"),
		token("razorpay-key-id", "Razorpay key id", `rzp_(?:live|test)_[A-Za-z0-9]{14}`),
		assigned("razorpay-key-secret", "Razorpay key secret", []string{"razorpay"}, alnum(24)),
		token("paystack-secret-key", "Paystack secret key", `sk_(?:live|test)_[a-f0-9]{40}`, "sk_live_", "sk_test_"),
		token("flutterwave-secret-key", "Flutterwave secret key", `FLWSECK_TEST-[a-hA-H0-9]{32}-X`),
		token("flutterwave-public-key", "Flutterwave public key", `FLWPUBK_TEST-[a-hA-H0-9]{32}-X`),
		token("flutterwave-encryption-key", "Flutterwave encryption key", `FLWSECK_TEST-[a-hA-H0-9]{12}`),
		assigned("plaid-client-id", "Plaid client id", []string{"plaid"}, alnum(24)),
		assigned("plaid-secret-key", "Plaid secret key", []string{"plaid"}, alnum(30)),
		assigned("plaid-api-token", "Plaid access token", []string{"plaid"}, `access-(?:sandbox|development|production)-`+uuid),
		assigned("gocardless-api-token", "GoCardless access token", []string{"gocardless"}, `live_[a-zA-Z0-9_=-]{40}`),
		assigned("lob-api-key", "Lob API key", []string{"lob"}, `(?:live|test)_[a-f0-9]{35}`),
		assigned("lob-pub-api-key", "Lob publishable API key", []string{"lob"}, `(?:test|live)_pub_[a-f0-9]{31}`),
		token("shippo-api-token", "Shippo API token", `shippo_(?:live|test)_[a-fA-F0-9]{40}`),
		token("easypost-api-token", "EasyPost API key", `EZAK[a-zA-Z0-9]{54}`),
		token("easypost-test-api-token", "EasyPost test API key", `EZTK[a-zA-Z0-9]{54}`),
		token("duffel-api-token", "Duffel API token", `duffel_(?:test|live)_[a-zA-Z0-9_=-]{43}`),
		assigned("finicity-client-secret", "Finicity client secret", []string{"finicity"}, alnum(20)),
		assigned("finicity-api-token", "Finicity API token", []string{"finicity"}, hex(32)),
		assigned("coinbase-access-token", "Coinbase access token", []string{"coinbase"}, `[a-zA-Z0-9_-]{64}`),
		assigned("binance-api-key", "Binance API key", []string{"binance"}, alnum(64)),
		assigned("kraken-access-token", "Kraken access token", []string{"kraken"}, `[a-zA-Z0-9/=_+-]{80,90}`),
		assigned("kucoin-access-token", "KuCoin access token", []string{"kucoin"}, hex(24)),
		assigned("kucoin-secret-key", "KuCoin secret key", []string{"kucoin"}, uuid),
		assigned("bittrex-access-key", "Bittrex access key", []string{"bittrex"}, alnum(32)),
		assigned("etherscan-api-key", "Etherscan API key", []string{"etherscan"}, `[A-Z0-9]{34}`),
		assigned("infura-api-key", "Infura project secret", []string{"infura"}, hex(32)),
		assigned("etsy-access-token", "Etsy access token", []string{"etsy"}, alnum(24)),
		assigned("freshbooks-access-token", "FreshBooks access token", []string{"freshbooks"}, alnum(64)),

		// Observability and data.
		assigned("datadog-access-token", "Datadog API or app key", []string{"datadog", "dd_api_key", "dd_app_key"}, `[a-zA-Z0-9]{32,40}`),
		token("newrelic-user-api-key", "New Relic user API key", `NRAK-[a-zA-Z0-9]{27}`),
		token("newrelic-browser-api-token", "New Relic browser API key", `NRJS-[a-f0-9]{19}`),
		token("newrelic-insert-key", "New Relic insert key", `NRII-[a-zA-Z0-9_-]{32}`),
		assigned("newrelic-user-api-id", "New Relic user API id", []string{"new-relic", "newrelic", "new_relic"}, alnum(64)),
		token("grafana-api-key", "Grafana API key", `eyJrIjoi[A-Za-z0-9]{70,400}={0,3}`),
		token("grafana-cloud-api-token", "Grafana Cloud API token", `glc_[A-Za-z0-9+/]{32,400}={0,3}`),
		token("grafana-service-account-token", "Grafana service account token", `glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}`),
		token("sentry-user-token", "Sentry user token", `sntryu_[a-f0-9]{64}`),
		token("sentry-org-token", "Sentry organization token", `sntrys_eyJpYXQiO[a-zA-Z0-9+/]{10,200}(?:LCJyZWdpb25fdXJs|InJlZ2lvbl91cmwi|cmVnaW9uX3VybCI6)[a-zA-Z0-9+/]{10,200}={0,2}_[a-zA-Z0-9+/]{43}`),
		assigned("sentry-access-token", "Sentry access token", []string{"sentry"}, hex(64)),
		assigned("sumologic-access-id", "Sumo Logic access id", []string{"sumo"}, `su[a-zA-Z0-9]{12}`),
		assigned("sumologic-access-token", "Sumo Logic access key", []string{"sumo"}, alnum(64)),
		assigned("launchdarkly-access-token", "LaunchDarkly access token", []string{"launchdarkly"}, `[a-zA-Z0-9=_-]{40}`),
		assigned("segment-write-key", "Segment write key", []string{"segment_write", "segmentwrite", "segment"}, alnum(32)),
		assigned("mixpanel-api-secret", "Mixpanel API secret", []string{"mixpanel"}, hex(32)),
		assigned("amplitude-api-key", "Amplitude API key", []string{"amplitude"}, hex(32)),
		assigned("algolia-api-key", "Algolia admin API key", []string{"algolia"}, alnum(32)),
		assigned("confluent-access-token", "Confluent access token", []string{"confluent"}, alnum(16)),
		assigned("confluent-secret-key", "Confluent secret key", []string{"confluent"}, alnum(64)),
		assigned("rapidapi-access-token", "RapidAPI access token", []string{"rapidapi"}, `[a-zA-Z0-9_-]{50}`),
		assigned("finnhub-access-token", "Finnhub access token", []string{"finnhub"}, alnum(20)),
		assigned("nytimes-access-token", "New York Times access token", []string{"nytimes", "new-york-times", "newyorktimes"}, `[a-zA-Z0-9=_-]{32}`),
		token("maxmind-license-key", "MaxMind license key", `[A-Za-z0-9]{6}_[A-Za-z0-9]{29}_mmk`, "_mmk"),
		assigned("snyk-api-token", "Snyk API token", []string{"snyk"}, uuid),
		token("authress-service-client-access-key", "Authress service client access key", `(?:sc|ext|scauth|authress)_[a-z0-9]{5,30}\.[a-z0-9]{4,6}\.acc[_-][a-z0-9-]{10,32}\.[a-z0-9+/_=-]{30,120}`, "sc_", "ext_", "scauth_", "authress_"),
		assigned("okta-access-token", "Okta API token", []string{"okta"}, `00[\w=-]{40}`),
		assigned("auth0-client-secret", "Auth0 client secret", []string{"auth0"}, `[A-Za-z0-9_-]{64}`),
		token("intra42-client-secret", "42 Intra client secret", `s-s4t2(?:ud|af)-[a-f0-9]{64}`),
		token("settlemint-personal-access-token", "SettleMint personal access token", `sm_pat_[a-zA-Z0-9]{16}`),
		token("settlemint-application-access-token", "SettleMint application access token", `sm_aat_[a-zA-Z0-9]{16}`),
		token("settlemint-service-access-token", "SettleMint service access token", `sm_sat_[a-zA-Z0-9]{16}`),
		assigned("adobe-client-id", "Adobe client id", []string{"adobe"}, hex(32)),
		token("adobe-client-secret", "Adobe client secret", `p8e-[a-zA-Z0-9]{32}`),
		token("cloudinary-url", "Cloudinary URL with secret", `cloudinary://[0-9]{15}:[A-Za-z0-9_-]{27}@[a-z0-9-]+`),

		// AI providers.
		token("openai-api-key", "OpenAI API key", `sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{58,74}|[a-zA-Z0-9]{20})T3BlbkFJ[A-Za-z0-9_-]{20,74}`, "t3blbkfj"),
		token("anthropic-api-key", "Anthropic API key", `sk-ant-api03-[a-zA-Z0-9_-]{93}AA`),
		token("anthropic-admin-api-key", "Anthropic admin API key", `sk-ant-admin01-[a-zA-Z0-9_-]{93}AA`),
		token("huggingface-access-token", "Hugging Face access token", `hf_[a-zA-Z]{34}`),
		token("huggingface-organization-api-token", "Hugging Face organization token", `api_org_[a-zA-Z]{34}`),
		token("perplexity-api-key", "Perplexity API key", `pplx-[a-zA-Z0-9]{48}`),
		token("replicate-api-token", "Replicate API token", `r8_[A-Za-z0-9]{37}`),
		token("groq-api-key", "Groq API key", `gsk_[A-Za-z0-9]{52}`),
		token("xai-api-key", "xAI API key", `xai-[A-Za-z0-9]{80}`),
		assigned("cohere-api-token", "Cohere API key", []string{"cohere", "co_api_key"}, alnum(40)),
		assigned("mistral-api-key", "Mistral API key", []string{"mistral"}, alnum(32)),

		// Social and consumer APIs.
		assigned("twitter-api-key", "Twitter API key", []string{"twitter"}, alnum(25)),
		assigned("twitter-api-secret", "Twitter API secret", []string{"twitter"}, alnum(50)),
		assigned("twitter-access-token", "Twitter access token", []string{"twitter"}, `[0-9]{15,25}-[a-zA-Z0-9]{20,40}`),
		assigned("twitter-access-secret", "Twitter access secret", []string{"twitter"}, alnum(45)),
		assigned("twitter-bearer-token", "Twitter bearer token", []string{"twitter"}, `A{22}[a-zA-Z0-9%]{80,100}`),
		assigned("facebook-secret", "Facebook app secret", []string{"facebook"}, hex(32)),
		token("facebook-page-access-token", "Facebook page access token", `EAA[MC][a-zA-Z0-9]{100,400}`, "eaam", "eaac"),
		assigned("linkedin-client-id", "LinkedIn client id", []string{"linkedin", "linked-in", "linked_in"}, lowAlnum(14)),
		assigned("linkedin-client-secret", "LinkedIn client secret", []string{"linkedin", "linked-in", "linked_in"}, alnum(16)),
		assigned("twitch-api-token", "Twitch API token", []string{"twitch"}, lowAlnum(30)),
		assigned("flickr-access-token", "Flickr access token", []string{"flickr"}, lowAlnum(32)),
		assigned("dropbox-api-token", "Dropbox API secret", []string{"dropbox"}, lowAlnum(15)),
		assigned("dropbox-short-lived-api-token", "Dropbox short-lived token", []string{"dropbox"}, `sl\.[a-zA-Z0-9_=-]{135}`),
		assigned("dropbox-long-lived-api-token", "Dropbox long-lived token", []string{"dropbox"}, `[a-z0-9]{11}AAAAAAAAAA[a-zA-Z0-9_=-]{43}`),
		assigned("fastly-api-token", "Fastly API token", []string{"fastly"}, `[a-zA-Z0-9=_-]{32}`),
		assigned("hubspot-api-key", "HubSpot API key", []string{"hubspot"}, uuid),
		assigned("kakao-api-key", "Kakao REST API key", []string{"kakao"}, hex(32)),
		assigned("naver-client-secret", "Naver client secret", []string{"naver"}, alnum(10)),
		token("mapbox-secret-token", "Mapbox secret token", `sk\.eyJ1Ijoi[a-zA-Z0-9_-]{20,200}\.[a-zA-Z0-9_-]{22}`, "sk.eyj1ijoi"),
		assigned("mapbox-api-token", "Mapbox API token", []string{"mapbox"}, `pk\.[a-z0-9]{60}\.[a-z0-9]{22}`),
		assigned("yandex-api-key", "Yandex API key", []string{"yandex"}, `AQVN[A-Za-z0-9_-]{35,38}`),
		assigned("yandex-aws-access-token", "Yandex AWS-compatible access key", []string{"yandex"}, `YC[a-zA-Z0-9_-]{38}`),
		assigned("yandex-access-token", "Yandex access token", []string{"yandex"}, `t1\.[A-Z0-9a-z_-]{1,200}={0,2}\.[A-Z0-9a-z_-]{86}={0,2}`),
		assigned("sidekiq-secret", "Sidekiq Enterprise credentials", []string{"bundle_enterprise__contribsys__com", "bundle_gems__contribsys__com"}, `[a-f0-9]{8}:[a-f0-9]{8}`),
		token("sidekiq-sensitive-url", "Sidekiq URL with credentials", `https?://[a-f0-9]{8}:[a-f0-9]{8}@(?:gems|enterprise)\.contribsys\.com`, "contribsys.com"),
		assigned("ngrok-auth-token", "ngrok auth token", []string{"ngrok"}, `[0-9A-Za-z]{25,27}_[0-9A-Za-z]{20,22}`),

		// Frameworks and config files.
		token("laravel-app-key", "Laravel APP_KEY", `APP_KEY=base64:[A-Za-z0-9+/]{43}=`, "app_key=base64:"),
		assigned("rails-secret-key-base", "Rails secret_key_base", []string{"secret_key_base"}, hex(128)),
		assigned("django-secret-key", "Django SECRET_KEY", []string{"django_secret_key", "django_secret"}, `[^'"\s]{50}`),
		{ID: "docker-config-auth", Description: "Registry credentials in a Docker config", Regex: `"auth"\s*:\s*"([A-Za-z0-9+/]{16,400}={0,2})"`, Keywords: []string{`"auth"`}, SecretGroup: 1, Entropy: 3},
		{ID: "url-credentials", Description: "Password in a URL", Regex: `(?i)\b[a-z][a-z0-9+.-]{1,20}://[^\s:@/"'<>]{1,64}:([^\s:@/"'<>]{3,128})@[a-z0-9.-]{3,253}`, Keywords: []string{"://"}, SecretGroup: 1, Entropy: 2.5,
			Stopwords: []string{"password", "passwd", "changeme", "example", "secret", "${", "{{", "$("}},
		{ID: "private-key", Description: "Private key", Regex: `(?i)-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----[\s\S-]{64,}?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----`, Keywords: []string{"-----begin"}},
		{ID: "putty-private-key", Description: "PuTTY private key", Regex: `PuTTY-User-Key-File-[23]: [^\r\n]{1,64}`, Keywords: []string{"putty-user-key-file"}},
		{ID: "jwt", Description: "JSON Web Token", Regex: `(?:^|[^a-zA-Z0-9_-])(eyJ[a-zA-Z0-9_-]{15,}\.eyJ[a-zA-Z0-9_-]{15,}\.[a-zA-Z0-9_-]{10,}={0,2})` + tokenEnd, Keywords: []string{"eyj"}, SecretGroup: 1, Entropy: 3},
		{ID: "curl-auth-header", Description: "Authorization header in a curl command", Regex: `(?i)\bcurl\b[^\n]{0,300}?(?:-H|--header)\s*["']?Authorization:\s*(?:Bearer|Basic|Token|Bot)\s+([^"'\s]{10,400})`, Keywords: []string{"curl"}, SecretGroup: 1, Entropy: 2.75},
		{ID: "curl-auth-user", Description: "Credentials in a curl command", Regex: `(?i)\bcurl\b[^\n]{0,300}?(?:-u|--user)\s*["']?([^:"'\s]{1,64}:[^"'\s$]{4,128})["']?`, Keywords: []string{"curl"}, SecretGroup: 1, Entropy: 2, Stopwords: []string{"user:pass", "username:password", "$"}},
		{ID: "kubernetes-secret-yaml", Description: "Kubernetes Secret data", Regex: `(?i)\bkind:\s*["']?Secret["']?[\s\S]{0,400}?\bdata:\s*\n(?:[ \t]+[\w.-]+:[^\n]*\n){0,20}?[ \t]+[\w.-]+:\s*([A-Za-z0-9+/]{16,400}={0,2})`, Keywords: []string{"kind:"}, SecretGroup: 1, Entropy: 3},
		withEntropy(assigned("generic-api-key", "Generic API key, token or password",
			[]string{"access", "auth", "api", "credential", "creds", "key", "passwd", "password", "secret", "token"},
			`[a-zA-Z0-9_=~+-][a-zA-Z0-9_.=~+/-]{9,149}`), 3.5),
	}
	for i := range rs {
		if rs[i].ID == "generic-api-key" {
			// Values that read as code rather than as a secret: words and
			// identifiers without digits, dotted/underscored names,
			// references to variables and templates.
			rs[i].AllowRegexes = []string{
				`^[^0-9]+$`,                           // words and identifiers: real keys almost always hold digits
				`^[a-z]+(?:[A-Z][a-z0-9]+)+$`,         // lowerCamelCase identifiers
				`^[a-z][a-z0-9]*\.[A-Z][a-zA-Z0-9]*$`, // qualified identifiers (pkg.Name)
				`^[a-zA-Z_]+=[a-zA-Z_]+$`,             // name=value option lists
				`^(?:[A-Za-z][A-Za-z0-9]{0,11}[_.-]){2,}[A-Za-z][A-Za-z0-9]{0,11}$`,
				`^(?:\$|\{\{|%[A-Z]|<%|@[A-Za-z])`,
				`(?i)^(?:true|false|null|none|undefined)$`,
				// Paths and keys of key-value stores: short segments between slashes.
				`^(?:[a-zA-Z0-9_.~-]{0,24}/){2,}[a-zA-Z0-9_.~-]{0,24}$`,
				// Host names and API group/version strings.
				`(?i)^[a-z0-9.-]+\.(?:com|io|org|net|dev|cloud)(?:/[a-z0-9.-]*)?$`,
			}
			rs[i].AllowMatchRegexes = []string{
				`(?i)(?:csrf|xsrf|nonce|integrity|checksum|digest|hash|sha(?:1|256|512)?|etag|commit|revision|uuid|public|publishable|pubkey)[\w.-]{0,20}["']?\s{0,3}(?:=|:|=>)`,
			}
		}
	}
	// Placeholders never count as secrets for the assignment rules.
	for i := range rs {
		if strings.Contains(rs[i].Regex, "[a-z0-9_.-]{0,40}?") {
			rs[i].Stopwords = append(rs[i].Stopwords, placeholders...)
		}
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
	return rs
}

// TOML returns the default ruleset as gitleaks-format TOML.
func TOML() []byte {
	var b strings.Builder
	b.WriteString("# pipeguard default secret rules (gitleaks-compatible format).\n")
	b.WriteString("title = \"pipeguard default rules\"\n\n")
	b.WriteString("[[allowlists]]\ndescription = \"files that hold no secrets of their own\"\npaths = [\n")
	for _, p := range globalAllowPaths {
		b.WriteString("    " + lit(p) + ",\n")
	}
	b.WriteString("]\n\n")
	for _, r := range Default() {
		b.WriteString("[[rules]]\n")
		fmt.Fprintf(&b, "id = %s\n", strconv.Quote(r.ID))
		fmt.Fprintf(&b, "description = %s\n", strconv.Quote(r.Description))
		if r.Regex != "" {
			fmt.Fprintf(&b, "regex = %s\n", lit(r.Regex))
		}
		if r.Path != "" {
			fmt.Fprintf(&b, "path = %s\n", lit(r.Path))
		}
		if r.SecretGroup != 0 {
			fmt.Fprintf(&b, "secretGroup = %d\n", r.SecretGroup)
		}
		if r.Entropy != 0 {
			fmt.Fprintf(&b, "entropy = %g\n", r.Entropy)
		}
		if r.Severity != "" {
			fmt.Fprintf(&b, "severity = %s\n", strconv.Quote(r.Severity))
		}
		b.WriteString("keywords = [")
		for i, k := range r.Keywords {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Quote(strings.ToLower(k)))
		}
		b.WriteString("]\n")
		if len(r.AllowMatchRegexes) > 0 {
			b.WriteString("[[rules.allowlists]]\nregexTarget = \"match\"\nregexes = [")
			for i, s := range r.AllowMatchRegexes {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(lit(s))
			}
			b.WriteString("]\n")
		}
		if len(r.Stopwords) > 0 || len(r.AllowRegexes) > 0 {
			b.WriteString("[[rules.allowlists]]\n")
			if len(r.Stopwords) > 0 {
				b.WriteString("stopwords = [")
				for i, s := range r.Stopwords {
					if i > 0 {
						b.WriteString(", ")
					}
					b.WriteString(strconv.Quote(s))
				}
				b.WriteString("]\n")
			}
			if len(r.AllowRegexes) > 0 {
				b.WriteString("regexes = [")
				for i, s := range r.AllowRegexes {
					if i > 0 {
						b.WriteString(", ")
					}
					b.WriteString(lit(s))
				}
				b.WriteString("]\n")
			}
		}
		b.WriteString("\n")
	}
	return []byte(b.String())
}

// lit writes a TOML literal string (no escapes), falling back to a basic
// string when the text itself contains the quote.
func lit(s string) string {
	if !strings.Contains(s, "'''") && !strings.HasSuffix(s, "'") {
		return "'''" + s + "'''"
	}
	return strconv.Quote(s)
}

// Paths whose content is vendored, generated or binary.
var globalAllowPaths = []string{
	`(?i)\.(?:bmp|gif|jpe?g|png|svg|tiff?|ico|webp|eot|[ot]tf|woff2?|pdf|exe|dll|so|dylib|class|pyc)$`,
	`(?:^|/)go\.(?:mod|sum|work(?:\.sum)?)$`,
	`(?:^|/)vendor/(?:modules\.txt$|github\.com/|golang\.org/|google\.golang\.org/|gopkg\.in/|k8s\.io/|sigs\.k8s\.io/|go\.etcd\.io/|go\.uber\.org/|cloud\.google\.com/)`,
	`(?:^|/)node_modules/`,
	`(?:^|/)(?:package-lock\.json|npm-shrinkwrap\.json|yarn\.lock|pnpm-lock\.yaml|Cargo\.lock|poetry\.lock|Gemfile\.lock|composer\.lock|deno\.lock)$`,
	`(?:^|/)(?:gradlew(?:\.bat)?|mvnw(?:\.cmd)?|gradle\.lockfile)$`,
	`(?:^|/)\.git/`,
}
