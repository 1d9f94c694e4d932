package kubeauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// EKS token format, as aws-iam-authenticator makes and checks it.
const (
	eksTokenPrefix   = "k8s-aws-v1."
	eksClusterHeader = "x-k8s-aws-id"
	// eksPresignExpiry is the X-Amz-Expires aws-iam-authenticator signs; the cluster itself
	// accepts the token for 15 minutes after X-Amz-Date.
	eksPresignExpiry    = "60"
	eksDefaultLifetime  = 15 * time.Minute
	eksDefaultSTSRegion = "us-east-1"
)

const awsFix = "add the step aws-actions/configure-aws-credentials (role-to-assume, aws-region) before pach-upgrade, " +
	"with `permissions: id-token: write` on the job"

// eksSource presigns STS GetCallerIdentity with the cluster's name in the signed x-k8s-aws-id
// header: the cluster replays the request to STS to learn who signed it.
type eksSource struct {
	presign   *sts.PresignClient
	clusterID string
	lifetime  time.Duration
}

func newEKS(ctx context.Context, p *Plugin, getenv func(string) string, opts Options) (tokenSource, error) {
	region := firstNonEmpty(p.Region, getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION"))
	// The STS endpoint receives the web identity token (and signs what the cluster replays):
	// only AWS's, unless allowed.
	for _, name := range []string{"AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"} {
		if v := getenv(name); v != "" {
			if err := checkEndpoint(name, v, awsHost, opts.AllowHosts); err != nil {
				return nil, err
			}
		}
	}
	// The web identity token file is read only through the runner's mounts (and only when no
	// static keys take precedence over it).
	tokenFile := getenv("AWS_WEB_IDENTITY_TOKEN_FILE")
	if tokenFile != "" && getenv("AWS_ACCESS_KEY_ID") == "" {
		local, err := credentialFile("AWS_WEB_IDENTITY_TOKEN_FILE", tokenFile, opts, awsFix)
		if err != nil {
			return nil, err
		}
		tokenFile = local
	}
	var loads []func(*config.LoadOptions) error
	if opts.HTTPClient != nil {
		loads = append(loads, config.WithHTTPClient(opts.HTTPClient))
	}
	profile := getenv("AWS_PROFILE")
	if profile != "" {
		loads = append(loads, config.WithSharedConfigProfile(profile))
	}
	if region != "" {
		loads = append(loads, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = eksDefaultSTSRegion
	}
	// The shared config file may name an STS endpoint too (endpoint_url, or a services
	// section): check the one the SDK's STS client resolved.
	if be := sts.NewFromConfig(cfg).Options().BaseEndpoint; be != nil && *be != "" {
		if err := checkEndpoint("the STS endpoint that the AWS configuration names (endpoint_url in the shared config file's profile or its services section, or AWS_ENDPOINT_URL)",
			*be, awsHost, opts.AllowHosts); err != nil {
			return nil, err
		}
	}
	// The variables aws-actions/configure-aws-credentials exports come first, read through
	// getenv so that the exec config's env entries count; then web identity; then the SDK's
	// default chain (shared profiles, container and instance roles).
	id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	webIdentity := tokenFile != "" && getenv("AWS_ROLE_ARN") != ""
	if id == "" && !webIdentity {
		// The SDK's chain stays: a credential_process it would run is checked before it can.
		if err := checkAWSProcess(ctx, cfg, profile != "", opts.AllowExecPlugins); err != nil {
			return nil, err
		}
	}
	switch {
	case id != "" && secret != "":
		cfg.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, secret, getenv("AWS_SESSION_TOKEN")))
	case id != "":
		return nil, missingVar("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID is set without it; "+awsFix)
	case webIdentity:
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewWebIdentityRoleProvider(sts.NewFromConfig(cfg), getenv("AWS_ROLE_ARN"),
			stscreds.IdentityTokenFile(tokenFile), func(o *stscreds.WebIdentityRoleOptions) {
				o.RoleSessionName = firstNonEmpty(getenv("AWS_ROLE_SESSION_NAME"), "pach-upgrade")
			}))
	}
	if p.RoleARN != "" {
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), p.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "pach-upgrade"
		}))
	}
	if cfg.Credentials == nil {
		return nil, fmt.Errorf("no AWS credentials (AWS_ACCESS_KEY_ID, AWS_WEB_IDENTITY_TOKEN_FILE, a profile or an instance role): %s", awsFix)
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		if p.RoleARN != "" {
			return nil, fmt.Errorf("assume role %s (--role-arn): %w", p.RoleARN, err)
		}
		return nil, fmt.Errorf("no AWS credentials (AWS_ACCESS_KEY_ID, AWS_WEB_IDENTITY_TOKEN_FILE, a profile or an instance role): %s: %w", awsFix, err)
	}
	life := opts.EKSTokenLifetime
	if life <= 0 {
		life = eksDefaultLifetime
	}
	return &eksSource{presign: sts.NewPresignClient(sts.NewFromConfig(cfg)), clusterID: p.ClusterID, lifetime: life}, nil
}

func (s *eksSource) token(ctx context.Context) (string, time.Time, error) {
	signed := time.Now()
	req, err := s.presign.PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, func(po *sts.PresignOptions) {
		po.ClientOptions = append(po.ClientOptions, sts.WithAPIOptions(
			smithyhttp.AddHeaderValue(eksClusterHeader, s.clusterID),
			smithyhttp.AddHeaderValue("X-Amz-Expires", eksPresignExpiry),
		))
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("presign STS GetCallerIdentity: %w", err)
	}
	if req.URL == "" {
		return "", time.Time{}, errors.New("presign STS GetCallerIdentity: empty URL")
	}
	return eksTokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(req.URL)), signed.Add(s.lifetime), nil
}
