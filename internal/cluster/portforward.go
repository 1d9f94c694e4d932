package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// PortForward opens a local listener on 127.0.0.1 (random port) forwarding to
// port of Service ns/service, through one Ready pod behind the Service — what
// `kubectl port-forward svc/...` does. port is the Service port (e.g. pachd's
// gRPC 30650). It returns "127.0.0.1:<port>" and a stop func that is safe to
// call more than once. The forward also stops when ctx ends.
func (c *Client) PortForward(ctx context.Context, ns, service string, port int) (string, func(), error) {
	pod, targetPort, err := c.forwardTarget(ctx, ns, service, port)
	if err != nil {
		return "", nil, err
	}
	rt, upgrader, err := spdy.RoundTripperFor(c.cfg)
	if err != nil {
		return "", nil, fmt.Errorf("port-forward %s/%s: spdy transport: %w", ns, service, err)
	}
	u := c.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)

	fctx, cancel := context.WithCancel(ctx)
	var once sync.Once
	stop := func() { once.Do(cancel) }
	ready := make(chan struct{})
	errOut := &lockedBuffer{}
	fw, err := portforward.NewOnAddressesWithContext(fctx, dialer, []string{"127.0.0.1"},
		[]string{"0:" + strconv.Itoa(targetPort)}, ready, io.Discard, errOut)
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("port-forward %s/%s: %w", ns, service, err)
	}
	done := make(chan error, 1)
	go func() { done <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-done:
		stop()
		if err == nil {
			err = errors.New("forwarder stopped before it was ready")
		}
		return "", nil, fmt.Errorf("port-forward %s/%s via pod %s port %d: %w", ns, service, pod, targetPort, err)
	case <-ctx.Done():
		stop()
		return "", nil, fmt.Errorf("port-forward %s/%s: %w", ns, service, ctx.Err())
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		stop()
		return "", nil, fmt.Errorf("port-forward %s/%s: no local port: %v", ns, service, err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local)))
	return addr, stop, nil
}

// forwardTarget resolves a Service port to (Ready pod, container port), the
// way the API server would route it, so the forward reaches the same backend.
func (c *Client) forwardTarget(ctx context.Context, ns, service string, port int) (string, int, error) {
	svc, err := c.cs.CoreV1().Services(ns).Get(ctx, service, metav1.GetOptions{})
	if err != nil {
		return "", 0, fmt.Errorf("port-forward: read service %s/%s: %w", ns, service, err)
	}
	var sp *corev1.ServicePort
	var have []string
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if int(p.Port) == port {
			sp = p
		}
		have = append(have, strconv.Itoa(int(p.Port)))
	}
	if sp == nil {
		return "", 0, fmt.Errorf("port-forward: service %s/%s has no port %d (has %s)", ns, service, port, strings.Join(have, ", "))
	}
	if len(svc.Spec.Selector) == 0 {
		return "", 0, fmt.Errorf("port-forward: service %s/%s has no pod selector", ns, service)
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector).String()
	pods, err := c.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return "", 0, fmt.Errorf("port-forward: list pods of service %s/%s: %w", ns, service, err)
	}
	sort.Slice(pods.Items, func(i, k int) bool { return pods.Items[i].Name < pods.Items[k].Name })
	var seen []string
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || !podReady(p) {
			seen = append(seen, p.Name+" ("+podStatus(p)+")")
			continue
		}
		target, err := containerPort(p, sp.TargetPort, port)
		if err != nil {
			return "", 0, fmt.Errorf("port-forward: service %s/%s: %w", ns, service, err)
		}
		return p.Name, target, nil
	}
	if len(seen) == 0 {
		return "", 0, fmt.Errorf("port-forward: service %s/%s: no pod matches selector %s", ns, service, sel)
	}
	return "", 0, fmt.Errorf("port-forward: service %s/%s: no Ready pod (%s)", ns, service, strings.Join(seen, ", "))
}

func containerPort(p *corev1.Pod, target intstr.IntOrString, port int) (int, error) {
	switch {
	case target.Type == intstr.String && target.StrVal != "":
		for _, ct := range p.Spec.Containers {
			for _, cp := range ct.Ports {
				if cp.Name == target.StrVal {
					return int(cp.ContainerPort), nil
				}
			}
		}
		return 0, fmt.Errorf("pod %s has no container port named %q", p.Name, target.StrVal)
	case target.IntVal != 0:
		return int(target.IntVal), nil
	}
	return port, nil // an unset targetPort defaults to the service port
}

// lockedBuffer collects the forwarder's error output, written from its goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
