package report

// VerifiedVersionOf is the verified-version output: the version that
// pachctl and pachd both reported at the end of an upgraded run, or of a
// no-op whose version check ran and passed. Every other result, and a run
// whose check was skipped or disagreed, gives "": a later cluster must
// never be upgraded to a version nobody saw running.
func VerifiedVersionOf(r *Report) string {
	if r.Result != ResultUpgraded && r.Result != ResultNoOp {
		return ""
	}
	if r.VerifiedVersion == "" || r.VerifiedVersion != r.ToVersion {
		return ""
	}
	seen := map[string]bool{}
	for _, v := range r.Versions {
		if v.Component != "pachctl" && v.Component != "pachd" {
			continue
		}
		if v.Version != r.VerifiedVersion || v.Want != r.VerifiedVersion {
			return ""
		}
		seen[v.Component] = true
	}
	if !seen["pachctl"] || !seen["pachd"] {
		return ""
	}
	return r.VerifiedVersion
}
