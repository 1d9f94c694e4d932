package kubeauth

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// The AWS shared config and credentials files (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, or
// ~/.aws/config and ~/.aws/credentials) may name a credential_process: a shell command line the
// SDK runs (`sh -c`) to get keys. The workflow's variables are trusted, but the file they name
// may be the pull request's (a config committed to the repository), so a program named there is
// run only when allow-exec-plugins names it, as for a kubeconfig's exec plugin.

// awsSources returns the environment and shared configuration that LoadDefaultConfig read:
// exactly what the SDK's credential chain resolves from.
func awsSources(cfg aws.Config) (*config.EnvConfig, *config.SharedConfig) {
	var env *config.EnvConfig
	var shared *config.SharedConfig
	for _, s := range cfg.ConfigSources {
		switch v := s.(type) {
		case config.EnvConfig:
			env = &v
		case *config.EnvConfig:
			env = v
		case config.SharedConfig:
			shared = &v
		case *config.SharedConfig:
			shared = v
		}
	}
	return env, shared
}

// checkAWSProcess refuses the credential_process that the SDK's default credential chain would
// run for cfg, unless allow names its program. profileSet says whether the profile was chosen
// in code (config.WithSharedConfigProfile), which puts it before the environment's keys.
//
// It follows config.resolveCredentialChain and resolveCredsFromProfile in the SDK's order: a
// profile set in code; else keys, then a web identity token file, in the environment; else the
// profile, whose source_profile chain is followed to the profile that provides credentials, where
// static keys, credential_source, web_identity_token_file, SSO and login sessions come before
// credential_process.
func checkAWSProcess(ctx context.Context, cfg aws.Config, profileSet bool, allow []string) error {
	env, shared := awsSources(cfg)
	if shared == nil {
		return nil
	}
	if !profileSet && env != nil && (env.Credentials.HasKeys() || env.WebIdentityTokenFilePath != "") {
		return nil
	}
	p := shared
	for p.Source != nil {
		p = p.Source
	}
	switch {
	case p.Credentials.HasKeys(), p.CredentialSource != "", p.WebIdentityTokenFile != "",
		p.SSOSessionName != "", p.SSORegion != "", p.SSOAccountID != "", p.SSOStartURL != "", p.SSORoleName != "",
		p.LoginSession != "", p.CredentialProcess == "":
		return nil
	}
	program, simple := shellProgram(p.CredentialProcess)
	if simple && execAllowed(allow, program) {
		return nil
	}
	where := awsProfileFile(ctx, env, p.Profile, p.CredentialProcess)
	if !simple {
		return fmt.Errorf("AWS profile %q in %s sets credential_process %q, a shell command line that the AWS SDK would run: refused, and it was not run, "+
			"since a configuration file (which a pull request may write) must not choose programs to run; allow-exec-plugins can allow only a single program "+
			"with plain arguments, not a line with shell syntax (;, |, &, $, redirections, quotes left open, VAR=value): write credential_process as one program "+
			"and name it in allow-exec-plugins, or sign in with aws-actions/configure-aws-credentials", p.Profile, where, p.CredentialProcess)
	}
	return fmt.Errorf("AWS profile %q in %s sets credential_process %q, which runs the program %s: refused, and it was not run, "+
		"since a configuration file (which a pull request may write) must not choose programs to run; "+
		"if you trust that program, name it in the allow-exec-plugins input, or sign in with aws-actions/configure-aws-credentials instead",
		p.Profile, where, p.CredentialProcess, program)
}

// awsProfileFile names the shared file that sets profile's credential_process, as the SDK finds
// the files (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, else the home's .aws folder).
func awsProfileFile(ctx context.Context, env *config.EnvConfig, profile, process string) string {
	configFile, credsFile := config.DefaultSharedConfigFilename(), config.DefaultSharedCredentialsFilename()
	if env != nil && env.SharedConfigFile != "" {
		configFile = env.SharedConfigFile
	}
	if env != nil && env.SharedCredentialsFile != "" {
		credsFile = env.SharedCredentialsFile
	}
	for _, f := range []struct {
		path   string
		config bool
	}{{credsFile, false}, {configFile, true}} {
		if _, err := os.Stat(f.path); err != nil {
			continue
		}
		one, err := config.LoadSharedConfigProfile(ctx, profile, func(o *config.LoadSharedConfigOptions) {
			o.ConfigFiles, o.CredentialsFiles = []string{}, []string{}
			if f.config {
				o.ConfigFiles = []string{f.path}
			} else {
				o.CredentialsFiles = []string{f.path}
			}
		})
		if err == nil && one.CredentialProcess == process {
			return f.path
		}
	}
	return fmt.Sprintf("the AWS shared files (%s, %s)", configFile, credsFile)
}

// shellProgram returns the program a `sh -c` line runs, and whether the line is one simple
// command: words, optionally quoted, and nothing by which the shell could run another program
// (separators, pipes, substitutions, redirections, globs, a VAR=value prefix such as PATH=).
func shellProgram(line string) (string, bool) {
	if strings.ContainsAny(line, ";&|<>()$`\\\n\r*?[]{}~!#") {
		return line, false
	}
	var words []string
	var cur strings.Builder
	var quote rune
	inWord := false
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return line, false
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) == 0 || words[0] == "" || strings.Contains(words[0], "=") {
		return line, false
	}
	return words[0], true
}
