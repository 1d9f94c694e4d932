package kubeauth

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// Credentials are sent only to the clouds' own sign-in hosts. A credential file or variable
// that names another host (a Google token_url, an STS endpoint, an Entra ID authority) would
// hand the subject token, a signed assertion or a secret to whoever runs it, so it is refused
// unless the allow-credential-hosts input names that host.

// googleHost: Google's OAuth and STS endpoints, including private (*.p.googleapis.com) and
// mTLS ones.
func googleHost(h string) bool {
	return h == "accounts.google.com" || h == "googleapis.com" || strings.HasSuffix(h, ".googleapis.com")
}

// awsHost: AWS's STS endpoints in every partition (sts.amazonaws.com, sts.<region>.amazonaws.com,
// the .cn partition and the dual-stack .api.aws names).
func awsHost(h string) bool {
	for _, suffix := range []string{".amazonaws.com", ".amazonaws.com.cn", ".api.aws", ".c2s.ic.gov", ".sc2s.sgov.gov"} {
		if strings.HasSuffix(h, suffix) {
			return true
		}
	}
	return false
}

// entraHosts are Microsoft Entra ID's authority hosts in the public and sovereign clouds.
var entraHosts = map[string]bool{
	"login.microsoftonline.com": true, "login.microsoft.com": true, "login.windows.net": true, "sts.windows.net": true,
	"login.chinacloudapi.cn": true, "login.partner.microsoftonline.cn": true, "login.microsoftonline.us": true,
	"login.microsoftonline.de": true,
}

func entraHost(h string) bool { return entraHosts[h] }

// checkEndpoint refuses rawURL unless it is https to a host the cloud's rule accepts or the
// allow list names. what says where the URL came from, for the message.
func checkEndpoint(what, rawURL string, cloud func(string) bool, allow []string) error {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || u.Hostname() == "" {
		return fmt.Errorf("%s %q is not a URL", what, rawURL)
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	for _, a := range allow {
		if strings.EqualFold(a, host) {
			return nil
		}
	}
	if u.Scheme != "https" || !cloud(host) {
		return fmt.Errorf("%s sends credentials to %s, which is not the cloud's own sign-in host: refused, "+
			"since a credential file or variable naming another host would hand the token to whoever runs it; "+
			"if you trust that host, name it in the allow-credential-hosts input", what, u.Scheme+"://"+u.Host)
	}
	return nil
}

// googleURLFields are the fields of Google credential files that name where tokens and
// assertions are sent.
var googleURLFields = []string{"token_url", "token_uri", "service_account_impersonation_url", "token_info_url"}

// checkGoogleFile refuses a credential file whose token endpoints are not Google's, whose
// credential_source reaches beyond the metadata servers and the job's own OIDC endpoint, or
// names a program, including in the source credentials an impersonated_service_account file
// nests. oidcURL is the process's ACTIONS_ID_TOKEN_REQUEST_URL.
func checkGoogleFile(path string, raw []byte, opts Options, oidcURL string) error {
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("application default credentials %s: not a JSON credential file", path)
	}
	return checkGoogleFields(path, "", doc, opts, oidcURL)
}

func checkGoogleFields(path, prefix string, doc map[string]any, opts Options, oidcURL string) error {
	allow := opts.AllowHosts
	for _, f := range googleURLFields {
		v, ok := doc[f]
		if !ok {
			continue
		}
		s, isString := v.(string)
		if !isString {
			return fmt.Errorf("application default credentials %s: %s%s is not a string", path, prefix, f)
		}
		if s == "" {
			continue
		}
		if err := checkEndpoint(fmt.Sprintf("application default credentials %s: %s%s", path, prefix, f), s, googleHost, allow); err != nil {
			return err
		}
	}
	if src, ok := doc["credential_source"].(map[string]any); ok {
		if err := checkCredentialSource(path, prefix+"credential_source.", src, opts, oidcURL); err != nil {
			return err
		}
	}
	if src, ok := doc["source_credentials"].(map[string]any); ok {
		return checkGoogleFields(path, prefix+"source_credentials.", src, opts, oidcURL)
	}
	return nil
}

// metadataHost: the link-local metadata servers that external_account files legitimately read
// their subject token (Azure's managed identity, url) or AWS credentials and region (region_url,
// url, imdsv2_session_token_url) from, as Google's guide to validating credential
// configurations from external sources lists them: 169.254.169.254 and AWS's fd00:ec2::254.
func metadataHost(h string) bool { return h == "169.254.169.254" || h == "fd00:ec2::254" }

// checkCredentialSource checks where an external_account file's credential_source makes this
// process send requests, and the program it would run:
//   - url, region_url, imdsv2_session_token_url: a metadata server (http or https), Google's
//     hosts, or the job's own OIDC endpoint (the host of ACTIONS_ID_TOKEN_REQUEST_URL, which
//     google-github-actions/auth writes with the request token as a header);
//   - regional_cred_verification_url: AWS's STS;
//   - executable.command: refused unless allow-exec-plugins names its program (the library runs
//     it, without a shell, when GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1);
//   - file: read here and sent only to token_url, which must be Google's, so it is not limited.
func checkCredentialSource(path, prefix string, src map[string]any, opts Options, oidcURL string) error {
	oidcHost := ""
	if u, err := url.Parse(oidcURL); err == nil && u.Scheme == "https" {
		oidcHost = strings.ToLower(u.Hostname())
	}
	for _, f := range []string{"url", "region_url", "imdsv2_session_token_url"} {
		s, _ := src[f].(string)
		if s == "" {
			continue
		}
		what := fmt.Sprintf("application default credentials %s: %s%s", path, prefix, f)
		if u, err := url.Parse(strings.TrimSpace(s)); err == nil && (u.Scheme == "http" || u.Scheme == "https") && metadataHost(u.Hostname()) {
			continue
		}
		rule := func(h string) bool { return googleHost(h) || (oidcHost != "" && h == oidcHost) }
		if err := checkEndpoint(what, s, rule, opts.AllowHosts); err != nil {
			return fmt.Errorf("%w (a credential_source may read only from the metadata servers 169.254.169.254 and fd00:ec2::254, "+
				"Google's hosts or this job's OIDC endpoint ACTIONS_ID_TOKEN_REQUEST_URL)", err)
		}
	}
	if s, _ := src["regional_cred_verification_url"].(string); s != "" {
		what := fmt.Sprintf("application default credentials %s: %sregional_cred_verification_url", path, prefix)
		if err := checkEndpoint(what, strings.ReplaceAll(s, "{region}", "region"), awsHost, opts.AllowHosts); err != nil {
			return err
		}
	}
	if ex, ok := src["executable"].(map[string]any); ok {
		command, _ := ex["command"].(string)
		fields := strings.Fields(command)
		if len(fields) == 0 || !execAllowed(opts.AllowExecPlugins, fields[0]) {
			program := command
			if len(fields) > 0 {
				program = fields[0]
			}
			return fmt.Errorf("application default credentials %s: %sexecutable.command %q runs the program %s: refused, and it was not run, "+
				"since a credential file (which a pull request may write) must not choose programs to run; "+
				"if you trust that program, name it in the allow-exec-plugins input", path, prefix, command, program)
		}
	}
	return nil
}

// credentialFile returns where this process reads a credential file that variable names by a
// runner path: mapped only through the runner's real mounts (opts.Runner), never looked for
// elsewhere, since the workspace is a pull request's to write.
func credentialFile(variable, path string, opts Options, fix string) (string, error) {
	local, ok := opts.Runner.RunnerFile(path)
	if !ok {
		return "", fmt.Errorf("%s names %s, which is not in a folder the runner shares with this action's container (%s): %s",
			variable, path, opts.Runner.MountList(), fix)
	}
	if !fileExists(local) {
		return "", fmt.Errorf("%s names %s, which does not exist here: %s", variable, path, fix)
	}
	return local, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
