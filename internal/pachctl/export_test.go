package pachctl

// ActiveSessionToken lets the external tests read a config as pachctl does.
var ActiveSessionToken = activeSessionToken
