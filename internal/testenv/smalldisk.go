package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// SmallDisk mounts a tmpfs of size bytes on a new folder and returns it,
// unmounted when the test ends: a real full disk (ENOSPC from the kernel)
// for tests of what a full backup folder does. It needs root (or
// CAP_SYS_ADMIN), as CI's container and this project's machines have;
// elsewhere it skips the test and says why, or fails it when CI=true.
func SmallDisk(t testing.TB, size int64) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pach-upgrade-small-disk-")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0755", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		os.Remove(dir)
		msg := fmt.Sprintf("a small disk needs a tmpfs mount, which failed (root or CAP_SYS_ADMIN is needed): %v: %s", err, strings.TrimSpace(string(out)))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("unmount the small disk %s: %v: %s", dir, err, out)
			return
		}
		os.Remove(dir)
	})
	return dir
}
