// Package versionpb describes pachd's version API message (versionpb_v2.Version)
// at run time, because no protoc is available to generate it. The stand-in
// pachctl and the stand-in pachd both use it, so they speak the real wire
// format of pachd's /versionpb_v2.API/GetVersion.
package versionpb

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// FullMethod is the gRPC method pachctl calls to learn pachd's version.
const FullMethod = "/versionpb_v2.API/GetVersion"

// Service and Method name the same method for a grpc.ServiceDesc.
const (
	Service = "versionpb_v2.API"
	Method  = "GetVersion"
)

// Descriptor returns the descriptor of versionpb_v2.Version, built from the
// field list in pachd's version.proto.
func Descriptor() (protoreflect.MessageDescriptor, error) {
	u32 := descriptorpb.FieldDescriptorProto_TYPE_UINT32.Enum()
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	field := func(name, jsonName string, num int32, typ *descriptorpb.FieldDescriptorProto_Type) *descriptorpb.FieldDescriptorProto {
		return &descriptorpb.FieldDescriptorProto{
			Name: proto.String(name), JsonName: proto.String(jsonName),
			Number: proto.Int32(num), Type: typ, Label: opt,
		}
	}
	fd := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("version/versionpb/version.proto"),
		Package: proto.String("versionpb_v2"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Version"),
			Field: []*descriptorpb.FieldDescriptorProto{
				field("major", "major", 1, u32),
				field("minor", "minor", 2, u32),
				field("micro", "micro", 3, u32),
				field("additional", "additional", 4, str),
				field("git_commit", "gitCommit", 5, str),
				field("git_tree_modified", "gitTreeModified", 6, str),
				field("build_date", "buildDate", 7, str),
				field("go_version", "goVersion", 8, str),
				field("platform", "platform", 9, str),
			},
		}},
	}
	// A private registry keeps this descriptor out of the global one, so
	// two copies (stand-in and tests) never conflict.
	file, err := protodesc.NewFile(fd, nil)
	if err != nil {
		return nil, fmt.Errorf("build versionpb_v2 descriptor: %w", err)
	}
	return file.Messages().ByName("Version"), nil
}

// Version is the decoded content of a versionpb_v2.Version message.
type Version struct {
	Major, Minor, Micro uint32
	// Additional is the pre-release/build suffix exactly as pachd stores it,
	// including its leading "-" (e.g. "-rc.1").
	Additional string
	GitCommit  string
	GoVersion  string
	Platform   string
}

// String renders the version the way pachctl prints it: major.minor.micro
// followed by the additional suffix.
func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d%s", v.Major, v.Minor, v.Micro, v.Additional)
}

// Parse reads "2.11.6", "v2.11.6" or "2.11.6-rc.1" into a Version.
func Parse(s string) (Version, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	core, additional := s, ""
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		core, additional = s[:i], s[i:]
	}
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return Version{}, fmt.Errorf("parse version %q: want major.minor.micro", s)
	}
	var nums [3]uint32
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return Version{}, fmt.Errorf("parse version %q: %w", s, err)
		}
		nums[i] = uint32(n)
	}
	return Version{Major: nums[0], Minor: nums[1], Micro: nums[2], Additional: additional}, nil
}

// Message builds the dynamic proto message for v.
func (v Version) Message() (*dynamicpb.Message, error) {
	md, err := Descriptor()
	if err != nil {
		return nil, err
	}
	m := dynamicpb.NewMessage(md)
	set := func(name string, val protoreflect.Value) {
		m.Set(md.Fields().ByName(protoreflect.Name(name)), val)
	}
	set("major", protoreflect.ValueOfUint32(v.Major))
	set("minor", protoreflect.ValueOfUint32(v.Minor))
	set("micro", protoreflect.ValueOfUint32(v.Micro))
	set("additional", protoreflect.ValueOfString(v.Additional))
	set("git_commit", protoreflect.ValueOfString(v.GitCommit))
	set("go_version", protoreflect.ValueOfString(v.GoVersion))
	set("platform", protoreflect.ValueOfString(v.Platform))
	return m, nil
}

// FromMessage reads a Version out of a versionpb_v2.Version message.
func FromMessage(m protoreflect.Message) Version {
	fields := m.Descriptor().Fields()
	get := func(name string) protoreflect.Value {
		return m.Get(fields.ByName(protoreflect.Name(name)))
	}
	return Version{
		Major:      uint32(get("major").Uint()),
		Minor:      uint32(get("minor").Uint()),
		Micro:      uint32(get("micro").Uint()),
		Additional: get("additional").String(),
		GitCommit:  get("git_commit").String(),
		GoVersion:  get("go_version").String(),
		Platform:   get("platform").String(),
	}
}

// NewMessage returns an empty versionpb_v2.Version to decode into.
func NewMessage() (*dynamicpb.Message, error) {
	md, err := Descriptor()
	if err != nil {
		return nil, err
	}
	return dynamicpb.NewMessage(md), nil
}

// MarshalJSON renders m as pachctl's --raw -o json does: protojson, indented.
func MarshalJSON(m proto.Message) ([]byte, error) {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode version as JSON: %w", err)
	}
	return b, nil
}
