package credcache

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
)

// DefaultRoleDuration is the lifetime AssumeRole asks of STS: an hour, STS's own default (the
// SDK's stscreds asks for 15 minutes).
const DefaultRoleDuration = time.Hour

// AssumeRoleOptions configures AssumeRole: the cache's Options, and what is passed to STS.
type AssumeRoleOptions struct {
	Options

	// ExternalID is passed to AssumeRole when the role's trust policy requires one.
	ExternalID string
	// RoleSessionName names the session in CloudTrail, 2 to 64 characters of [\w+=,.@-].
	// Default: "credcache-" + host name, cleaned to those rules.
	RoleSessionName string
	// Duration is the lifetime asked of STS, 15 minutes to 12 hours (STS's limits; the role's
	// MaxSessionDuration may be lower, and STS says so). Default: DefaultRoleDuration.
	Duration time.Duration
	// SourceIdentity, Tags, TransitiveTagKeys, Policy and PolicyARNs are passed to AssumeRole.
	SourceIdentity    string
	Tags              []ststypes.Tag
	TransitiveTagKeys []string
	Policy            string
	PolicyARNs        []ststypes.PolicyDescriptorType
	// ProviderOptions are applied last to stscreds.AssumeRoleOptions, for anything else
	// (SerialNumber and TokenProvider for MFA, for example).
	ProviderOptions []func(*stscreds.AssumeRoleOptions)
}

var (
	roleARNPattern     = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)
	sessionNameValid   = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	sessionNameInvalid = regexp.MustCompile(`[^\w+=,.@-]+`)
)

// AssumeRole returns a Cache of the credentials of roleARN, obtained with client (an STS
// client in the caller's account). client should not retry on its own
// (sts.Options.RetryMaxAttempts = 1): the cache retries with a backoff suited to the
// credentials' lifetime. AssumeRole makes no call until the first Retrieve (or KeepWarm). It
// returns a *ConfigError for a malformed role ARN or options out of range.
func AssumeRole(client stscreds.AssumeRoleAPIClient, roleARN string, optFns ...func(*AssumeRoleOptions)) (*Cache, error) {
	var o AssumeRoleOptions
	for _, fn := range optFns {
		if fn != nil {
			fn(&o)
		}
	}
	var errs []error
	if client == nil {
		errs = append(errs, errors.New("the STS client is nil"))
	}
	if !roleARNPattern.MatchString(roleARN) {
		errs = append(errs, fmt.Errorf("role ARN %q: want arn:aws:iam::ACCOUNT:role/NAME", roleARN))
	}
	switch {
	case o.Duration == 0:
		o.Duration = DefaultRoleDuration
	case o.Duration < 15*time.Minute || o.Duration > 12*time.Hour:
		errs = append(errs, fmt.Errorf("the Duration %v is outside what STS grants, 15m0s to 12h0m0s", o.Duration))
	}
	if o.RoleSessionName == "" {
		o.RoleSessionName = defaultSessionName()
	} else if !sessionNameValid.MatchString(o.RoleSessionName) {
		errs = append(errs, fmt.Errorf("RoleSessionName %q: want 2 to 64 characters of letters, digits and +=,.@_-", o.RoleSessionName))
	}
	if err := o.Options.validate(); err != nil {
		var ce *ConfigError
		errors.As(err, &ce)
		errs = append(errs, ce.Err)
	}
	if len(errs) > 0 {
		return nil, &ConfigError{Err: errors.Join(errs...)}
	}
	provider := stscreds.NewAssumeRoleProvider(client, roleARN, func(ao *stscreds.AssumeRoleOptions) {
		ao.RoleSessionName = o.RoleSessionName
		ao.Duration = o.Duration
		if o.ExternalID != "" {
			ao.ExternalID = aws.String(o.ExternalID)
		}
		if o.SourceIdentity != "" {
			ao.SourceIdentity = aws.String(o.SourceIdentity)
		}
		if o.Policy != "" {
			ao.Policy = aws.String(o.Policy)
		}
		ao.Tags = o.Tags
		ao.TransitiveTagKeys = o.TransitiveTagKeys
		ao.PolicyARNs = o.PolicyARNs
		for _, fn := range o.ProviderOptions {
			if fn != nil {
				fn(ao)
			}
		}
	})
	return newCache(provider, roleARN, o.Duration, o.Options)
}

// defaultSessionName is stable for a host, so CloudTrail shows which machine assumed the role.
func defaultSessionName() string {
	host, _ := os.Hostname()
	name := "credcache-" + strings.Trim(sessionNameInvalid.ReplaceAllString(host, "-"), "-")
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}
