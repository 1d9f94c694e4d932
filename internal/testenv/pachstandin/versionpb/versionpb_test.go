package versionpb_test

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/pach-upgrade/pach-upgrade/internal/testenv/pachstandin/versionpb"
)

func TestWireFormatMatchesPachdProto(t *testing.T) {
	v, err := versionpb.Parse("v2.11.6-rc.1")
	if err != nil {
		t.Fatal(err)
	}
	v.GitCommit = "abc"
	m, err := v.Message()
	if err != nil {
		t.Fatal(err)
	}
	got, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	// Field numbers and types from pachd's version.proto.
	var want []byte
	want = protowire.AppendTag(want, 1, protowire.VarintType)
	want = protowire.AppendVarint(want, 2)
	want = protowire.AppendTag(want, 2, protowire.VarintType)
	want = protowire.AppendVarint(want, 11)
	want = protowire.AppendTag(want, 3, protowire.VarintType)
	want = protowire.AppendVarint(want, 6)
	want = protowire.AppendTag(want, 4, protowire.BytesType)
	want = protowire.AppendString(want, "-rc.1")
	want = protowire.AppendTag(want, 5, protowire.BytesType)
	want = protowire.AppendString(want, "abc")
	if !bytes.Equal(got, want) {
		t.Fatalf("wire bytes %x, want %x", got, want)
	}

	back, err := versionpb.NewMessage()
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(want, back); err != nil {
		t.Fatal(err)
	}
	if r := versionpb.FromMessage(back); r.String() != "2.11.6-rc.1" || r.GitCommit != "abc" {
		t.Errorf("decoded %+v", r)
	}
}

func TestParse(t *testing.T) {
	for _, bad := range []string{"", "2.11", "2.11.x", "latest", "2.11.6.1"} {
		if v, err := versionpb.Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", bad, v)
		}
	}
}
