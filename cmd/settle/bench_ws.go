package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/uptrace/bun"

	"github.com/settlepay/settle/events"
	"github.com/settlepay/settle/invoice"
	"github.com/settlepay/settle/migrations"
	"github.com/settlepay/settle/openapi"
	"github.com/settlepay/settle/payor"
)

// benchWSConfig is one `settle bench ws` run.
type benchWSConfig struct {
	DatabaseURL  string
	Connections  int
	Rate         float64
	Duration     time.Duration
	DialParallel int
	Readers      int           // client reader goroutines over epoll; 0: one per connection
	Coalesce     time.Duration // how long a busy epoll reader sleeps between polls
	Drain        time.Duration
	JSON         bool
	Processes    string // "auto", "one" or "two"
	CPUProfile   string // where to write the server process's CPU profile of the writing phase
	Server       string // "settle", or "raw": the kernel's floor (see rawWSServer)

	clientsOnly string // internal: the child's server URL
}

// benchWSResult is what a run measured. Latencies are whole microseconds,
// from an event's created_at (stamped when the invoice is created) to the
// moment a client read it.
type benchWSResult struct {
	Server          string       `json:"server"` // settle, or raw (the reference)
	Database        string       `json:"database"`
	CPUs            int          `json:"cpus"`
	Connections     int          `json:"connections"`       // asked for
	Held            int          `json:"held"`              // open from the first event to the end
	ConnectSeconds  float64      `json:"connect_seconds"`   // time to open them all
	Events          int          `json:"events"`            // written during the run
	EventsPerSecond float64      `json:"events_per_second"` // written / duration
	Expected        int          `json:"expected_messages"` // held × events
	Received        int          `json:"received_messages"`
	Missing         int          `json:"missing"`      // (connection, event) pairs never received
	Duplicates      int          `json:"duplicates"`   // received more than once
	OutOfOrder      int          `json:"out_of_order"` // a sequence not above the one before
	MessagesPerSec  float64      `json:"messages_per_second"`
	Latency         benchLatency `json:"latency_us"`
	// First is, over events, the latency to the first connection that
	// read each (the path through commit, sequencer and hub); Spread is
	// the time from that first connection to the last (the fan-out).
	First  benchLatency `json:"first_us"`
	Spread benchLatency `json:"spread_us"`
	// ServerCPU and ClientCPU are the CPU time (user and system) each
	// side spent per event while events were written and read, in
	// milliseconds: unlike latencies, they hardly depend on what else
	// runs on the machine. With --processes one, ServerCPU counts both.
	ServerCPU  float64 `json:"server_cpu_ms_per_event"`
	ClientCPU  float64 `json:"client_cpu_ms_per_event,omitempty"`
	HeapMiB    float64 `json:"heap_mib"` // Go heap in use with every connection open (clients and server)
	Goroutines int     `json:"goroutines"`
	// ServerKiBPerConn is what each connection adds to the server
	// process's resident memory (VmRSS after all connected, less before,
	// over the connections; Go heap, goroutine stacks and the runtime's
	// own), and ServerHeapKiBPerConn the Go heap part of it. Only with
	// the clients in a child process.
	ServerKiBPerConn     float64 `json:"server_kib_per_connection,omitempty"`
	ServerHeapKiBPerConn float64 `json:"server_heap_kib_per_connection,omitempty"`
	// ServerStackKiBPerConn is the goroutine stacks' part.
	ServerStackKiBPerConn float64 `json:"server_stack_kib_per_connection,omitempty"`
	FirstError            string  `json:"first_error,omitempty"`
	DurationSeconds       float64 `json:"duration_seconds"`
	ListenerAddr          string  `json:"listener"`
	OpenFilesLimit        uint64  `json:"open_files_limit"`
	HubConnections        int     `json:"hub_connections"` // as the server counted them
	Processes             int     `json:"processes"`       // 1: clients in the server's process; 2: in a child
}

// benchWS is `settle bench ws`: a self-contained run of the server and
// its merchant WebSocket clients in one process, on loopback. It opens the
// connections, writes invoices at a steady rate, and checks that every
// connection received every event exactly once, in order.
func (m *Main) benchWS(ctx context.Context, args []string) error {
	var c benchWSConfig
	fs := newFlagSet("bench ws", m.Stderr)
	fs.StringVar(&c.DatabaseURL, "database-url", "", "database to run on (default: a fresh SQLite file in a temporary folder, removed afterwards)")
	fs.IntVar(&c.Connections, "connections", 10000, "merchant WebSockets to hold open")
	fs.Float64Var(&c.Rate, "rate", 5, "invoices created per second while measuring (one event each)")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long to create invoices")
	fs.IntVar(&c.DialParallel, "dial-parallel", 64, "connections opened at once while ramping up")
	fs.IntVar(&c.Readers, "client-readers", 2, "goroutines reading the clients' connections, each over an epoll instance (0: one goroutine per connection)")
	fs.DurationVar(&c.Coalesce, "client-coalesce", 500*time.Microsecond, "while its connections are busy, each client reader sleeps this long between polls, to read many per wake-up (latencies are overstated by at most this; 0: never sleep)")
	fs.DurationVar(&c.Drain, "drain", 30*time.Second, "how long to wait for the last events after writing stops")
	fs.BoolVar(&c.JSON, "json", false, "print the result as one JSON object")
	fs.StringVar(&c.Processes, "processes", "auto", "one: clients in this process; two: clients in a child process (each side then needs one descriptor per connection, not two); auto: two only when the open-files limit is too low for one")
	fs.StringVar(&c.Server, "server", "settle", "settle: settle's hub, fed by invoices created through its service; raw: the reference, the same events framed as settle frames them and written to each socket with one non-blocking write, with nothing in between (what the kernel alone costs)")
	fs.StringVar(&c.CPUProfile, "cpu-profile", "", "write a CPU profile of this process (the server, and the clients with --processes one) while events are written, to this file")
	fs.StringVar(&c.clientsOnly, "clients-only", "", "internal: run only the clients against this ws:// URL, as the child process of a bench")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if c.clientsOnly != "" {
		return benchWSChild(ctx, c, m.Getenv("SETTLE_BENCH_WS_KEY"), os.Stdin, m.Stdout)
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("bench ws: unexpected arguments %q", fs.Args())
	case c.Connections < 1 || c.Connections > 100000:
		return fmt.Errorf("bench ws: --connections %d: want 1 to 100000", c.Connections)
	case c.Rate <= 0 || c.Rate > 10000:
		return fmt.Errorf("bench ws: --rate %g: want more than 0 and at most 10000", c.Rate)
	case c.Duration <= 0 || c.Duration > time.Hour:
		return fmt.Errorf("bench ws: --duration %s: want up to an hour", c.Duration)
	case c.DialParallel < 1 || c.Drain <= 0:
		return errors.New("bench ws: --dial-parallel and --drain must be positive")
	case c.Readers < 0 || c.Readers > 1024:
		return fmt.Errorf("bench ws: --client-readers %d: want 0 to 1024", c.Readers)
	case c.Coalesce < 0 || c.Coalesce > time.Second:
		return fmt.Errorf("bench ws: --client-coalesce %s: want 0 to 1s", c.Coalesce)
	case c.Processes != "auto" && c.Processes != "one" && c.Processes != "two":
		return fmt.Errorf("bench ws: --processes %q: want auto, one or two", c.Processes)
	case c.Server != "settle" && c.Server != "raw":
		return fmt.Errorf("bench ws: --server %q: want settle or raw", c.Server)
	}
	res, err := runBenchWS(ctx, c, m.Stderr)
	if err != nil {
		return fmt.Errorf("bench ws: %w", err)
	}
	if err := m.printResult(res, c.JSON); err != nil {
		return err
	}
	if res.Held != res.Connections || res.Missing > 0 || res.Duplicates > 0 || res.OutOfOrder > 0 {
		return fmt.Errorf("bench ws: %w: held %d of %d, missing %d, duplicates %d, out of order %d",
			errFailed, res.Held, res.Connections, res.Missing, res.Duplicates, res.OutOfOrder)
	}
	return nil
}

// raiseOpenFiles lifts the soft limit on open files to what want needs, or
// as far as the hard limit (or, as root, the hard limit too) allows.
func raiseOpenFiles(want uint64) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	if lim.Cur >= want {
		return lim.Cur
	}
	if lim.Max < want {
		raised := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			return want
		}
	}
	lim.Cur = lim.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return lim.Cur
}

// benchWSReady is the child's report once its connections are open.
type benchWSReady struct {
	Opened         int     `json:"opened"`
	ConnectSeconds float64 `json:"connect_seconds"`
	HeapMiB        float64 `json:"heap_mib"`
	Goroutines     int     `json:"goroutines"`
	FirstError     string  `json:"first_error"`
	CPUSeconds     float64 `json:"cpu_seconds"` // spent so far
}

// benchWSChild is the client side in a child process. It opens the
// connections, prints benchWSReady as one JSON line, reads the number of
// events to expect as one line of stdin, waits for them, and writes the
// records in gob.
func benchWSChild(ctx context.Context, c benchWSConfig, key string, stdin io.Reader, stdout io.Writer) error {
	raiseOpenFiles(uint64(c.Connections + 256))
	work, stop := context.WithCancel(ctx)
	defer stop()
	expect := int(c.Rate*c.Duration.Seconds()) + 16
	b := openBenchClients(work, c.clientsOnly, key, c.Connections, c.DialParallel, c.Readers, c.Coalesce, expect)
	heap, goroutines := heapInUse()
	ready := benchWSReady{Opened: countNonNil(b.Clients), ConnectSeconds: b.ConnectSeconds,
		HeapMiB: heap, Goroutines: goroutines, FirstError: b.FirstError(), CPUSeconds: cpuSeconds()}
	if err := json.NewEncoder(stdout).Encode(ready); err != nil {
		return err
	}
	var events int
	if _, err := fmt.Fscanln(stdin, &events); err != nil {
		return fmt.Errorf("read the number of events: %w", err)
	}
	b.wait(work, events, c.Drain)
	return gob.NewEncoder(stdout).Encode(b.records(stop))
}

// vmRSSKiB is this process's resident memory, from /proc (0 where there
// is none).
func vmRSSKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// cpuSeconds is the CPU time this process has used, user and system.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// stackInUse is the bytes of goroutine stacks in use.
func stackInUse() int64 {
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	return int64(mem.StackInuse)
}

func heapInUse() (float64, int) {
	var mem runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&mem)
	return round(float64(mem.HeapInuse)/(1<<20), 1), runtime.NumGoroutine()
}

// benchWSSide is the client side as the server's process sees it: in
// process, or a child.
type benchWSSide interface {
	// records waits for events messages on every connection (at most
	// drain), closes them and returns what each saw.
	records(events int) ([]*benchRecord, error)
	// cpuSeconds is the CPU time the clients used since they were all
	// connected, once records has returned; 0 when in process.
	cpuSeconds() float64
}

type inProcessClients struct {
	b     *benchClients
	ctx   context.Context
	stop  func()
	drain time.Duration
}

func (p *inProcessClients) cpuSeconds() float64 { return 0 }

func (p *inProcessClients) records(events int) ([]*benchRecord, error) {
	p.b.wait(p.ctx, events, p.drain)
	return p.b.records(p.stop), nil
}

type childClients struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	ready benchWSReady
}

// startChildClients runs this binary's `bench ws --clients-only` and waits
// until its connections are open. The key goes in the environment, not in
// the arguments other users can list.
func startChildClients(ctx context.Context, c benchWSConfig, url, key string, stderr io.Writer) (*childClients, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "bench", "ws", "--clients-only", url,
		"--connections", strconv.Itoa(c.Connections), "--dial-parallel", strconv.Itoa(c.DialParallel), "--client-readers", strconv.Itoa(c.Readers), "--client-coalesce", c.Coalesce.String(),
		"--rate", strconv.FormatFloat(c.Rate, 'g', -1, 64), "--duration", c.Duration.String(), "--drain", c.Drain.String())
	cmd.Env = append(os.Environ(), "SETTLE_BENCH_WS_KEY="+key)
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := &childClients{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<20)}
	line, err := ch.out.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &ch.ready)
	}
	if err != nil {
		in.Close()
		cmd.Wait()
		return nil, fmt.Errorf("client process: %w", err)
	}
	return ch, nil
}

func (ch *childClients) cpuSeconds() float64 {
	if ch.cmd.ProcessState == nil {
		return 0
	}
	return (ch.cmd.ProcessState.UserTime() + ch.cmd.ProcessState.SystemTime()).Seconds() - ch.ready.CPUSeconds
}

func (ch *childClients) records(events int) ([]*benchRecord, error) {
	fmt.Fprintln(ch.in, events)
	var recs []*benchRecord
	err := gob.NewDecoder(ch.out).Decode(&recs)
	ch.in.Close()
	if werr := ch.cmd.Wait(); err == nil && werr != nil {
		err = werr
	}
	if err != nil {
		return nil, fmt.Errorf("client process: %w", err)
	}
	return recs, nil
}

func runBenchWS(ctx context.Context, c benchWSConfig, stderr io.Writer) (*benchWSResult, error) {
	started := time.Now()
	res := &benchWSResult{Server: c.Server, Connections: c.Connections, CPUs: runtime.NumCPU(), Processes: 1}
	// One process needs two descriptors per connection (server and client
	// side); with the clients in a child, each side needs one.
	res.OpenFilesLimit = raiseOpenFiles(uint64(2*c.Connections + 256))
	enough := res.OpenFilesLimit >= uint64(2*c.Connections+64)
	switch {
	case c.Processes == "two" || (c.Processes == "auto" && !enough):
		res.Processes = 2
		if res.OpenFilesLimit < uint64(c.Connections+64) {
			return nil, fmt.Errorf("open files limited to %d; %d connections need about %d per process (raise ulimit -n)",
				res.OpenFilesLimit, c.Connections, c.Connections+64)
		}
	case !enough:
		return nil, fmt.Errorf("open files limited to %d; %d connections in one process need about %d (raise ulimit -n, or use --processes two)",
			res.OpenFilesLimit, c.Connections, 2*c.Connections+64)
	}
	db, dbName, cleanup, err := benchWSDatabase(ctx, c.DatabaseURL)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	res.Database = dbName

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	secret := make([]byte, 32)
	rand.Read(secret)
	svc := invoice.NewService(db, nil, payor.NewSigner(secret, "http://127.0.0.1"), log)
	merchant, key, err := svc.CreateMerchant(ctx, "WebSocket bench")
	if err != nil {
		return nil, err
	}
	work, stop := context.WithCancel(ctx)
	var bg sync.WaitGroup
	defer func() {
		stop()
		bg.Wait()
	}()
	var hub *events.Hub
	var raw *rawWSServer
	var made *rawWSEvents
	if c.Server == "raw" {
		template, err := rawWSTemplate(ctx, svc, merchant.ID)
		if err != nil {
			return nil, err
		}
		if raw, err = startRawWSServer(); err != nil {
			return nil, err
		}
		defer raw.close()
		made = &rawWSEvents{template: template}
		res.ListenerAddr = raw.ln.Addr().String()
	} else {
		written, sequenced := &events.Signal{}, &events.Signal{}
		svc.OnEventsWritten(written.Notify)
		sequencer := events.NewSequencer(db, log, written, sequenced)
		hub = events.NewHub(db, log, events.HubConfig{MaxPerIP: -1, MaxPerMerchant: -1}, sequenced)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		res.ListenerAddr = ln.Addr().String()
		srv := &http.Server{Handler: openapi.New(openapi.Deps{Invoices: svc, Hub: hub, Log: log}), ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		bg.Go(func() { srv.Serve(ln) })
		bg.Go(func() { sequencer.Run(work) })
		bg.Go(func() { hub.Run(work) })
		defer srv.Close()
	}

	heap0, _ := heapInUse()
	rss0, stack0 := vmRSSKiB(), stackInUse()
	// Ramp up: open every connection, dial-parallel at a time.
	url := "ws://" + res.ListenerAddr + "/api/v1/ws"
	var side benchWSSide
	var firstErr string
	if res.Processes == 1 {
		clientCtx, stopClients := context.WithCancel(work)
		defer stopClients()
		b := openBenchClients(clientCtx, url, key, c.Connections, c.DialParallel, c.Readers, c.Coalesce, int(c.Rate*c.Duration.Seconds())+16)
		side = &inProcessClients{b: b, ctx: clientCtx, stop: stopClients, drain: c.Drain}
		res.ConnectSeconds, firstErr = b.ConnectSeconds, b.FirstError()
		res.HeapMiB, res.Goroutines = heapInUse()
	} else {
		ch, err := startChildClients(work, c, url, key, stderr)
		if err != nil {
			return nil, err
		}
		side = ch
		res.ConnectSeconds, firstErr = ch.ready.ConnectSeconds, ch.ready.FirstError
		heap, goroutines := heapInUse()
		res.HeapMiB, res.Goroutines = round(heap+ch.ready.HeapMiB, 1), goroutines+ch.ready.Goroutines
		res.ServerKiBPerConn = round(float64(vmRSSKiB()-rss0)/float64(c.Connections), 2)
		res.ServerHeapKiBPerConn = round((heap-heap0)*1024/float64(c.Connections), 2)
		res.ServerStackKiBPerConn = round(float64(stackInUse()-stack0)/1024/float64(c.Connections), 2)
	}
	if raw != nil {
		res.HubConnections = int(raw.count.Load())
	} else {
		res.HubConnections = hub.Connections()
	}

	// Write: invoices at the rate, from a few workers so one slow commit
	// does not hold back the schedule.
	jobs := make(chan int, 1024)
	var writers sync.WaitGroup
	var writeErr atomic.Value
	for range 4 {
		writers.Go(func() {
			for n := range jobs {
				_, err := svc.Create(work, invoice.CreateParams{MerchantID: merchant.ID, Mode: invoice.ModeTest,
					Amount: "1.00", Currency: "USD", PaymentMethods: []string{"sandbox"}, MerchantOrderID: "bench-ws-" + strconv.Itoa(n)})
				if err != nil {
					writeErr.CompareAndSwap(nil, fmt.Sprintf("create invoice: %v", err))
				}
			}
		})
	}
	if c.CPUProfile != "" {
		stopProfile, err := startCPUProfile(c.CPUProfile)
		if err != nil {
			return nil, err
		}
		defer stopProfile()
	}
	cpu0 := cpuSeconds()
	tick := time.NewTicker(time.Duration(float64(time.Second) / c.Rate))
	w0 := time.Now()
	for n := 0; time.Since(w0) < c.Duration && work.Err() == nil; n++ {
		if raw != nil {
			frame, err := made.next()
			if err != nil {
				return nil, err
			}
			raw.publish(frame)
		} else {
			jobs <- n
		}
		<-tick.C
	}
	tick.Stop()
	close(jobs)
	writers.Wait()
	writeSeconds := time.Since(w0).Seconds()

	// The events in the store (for the reference, the events it made) are
	// the truth: every connection must have read each of them once, in
	// order.
	stored := made.all()
	if raw == nil {
		if stored, err = benchWSEvents(ctx, db, merchant.ID); err != nil {
			return nil, err
		}
	} else if n := raw.blocked.Load() + raw.failed.Load(); n > 0 {
		res.FirstError = fmt.Sprintf("reference: %d writes not taken whole by the kernel", n)
	}
	recs, err := side.records(len(stored))
	if err != nil {
		return nil, err
	}
	res.Events = len(stored)
	if len(stored) > 0 {
		res.ServerCPU = round((cpuSeconds()-cpu0)*1000/float64(len(stored)), 2)
		res.ClientCPU = round(side.cpuSeconds()*1000/float64(len(stored)), 2)
	}
	res.EventsPerSecond = round(float64(len(stored))/writeSeconds, 1)
	res.Expected = c.Connections * len(stored)
	createdAt := make(map[int64]time.Time, len(stored))
	for _, e := range stored {
		createdAt[e.Sequence] = e.CreatedAt
	}
	latencies := make([]time.Duration, 0, res.Expected)
	firstAt, lastAt := make(map[int64]time.Duration, len(stored)), make(map[int64]time.Duration, len(stored))
	for _, rec := range recs {
		if rec == nil {
			res.Missing += len(stored)
			continue
		}
		if rec.Err == "" {
			res.Held++
		} else if firstErr == "" {
			firstErr = "connection ended: " + rec.Err
		}
		got := make(map[int64]bool, len(rec.Seqs))
		var last int64
		for i, seq := range rec.Seqs {
			if seq <= last {
				res.OutOfOrder++
			}
			last = max(last, seq)
			if got[seq] {
				res.Duplicates++
				continue
			}
			got[seq] = true
			if t, ok := createdAt[seq]; ok {
				d := time.Unix(0, rec.At[i]).Sub(t)
				latencies = append(latencies, d)
				if f, ok := firstAt[seq]; !ok || d < f {
					firstAt[seq] = d
				}
				lastAt[seq] = max(lastAt[seq], d)
			}
		}
		res.Received += len(rec.Seqs)
		for seq := range createdAt {
			if !got[seq] {
				res.Missing++
			}
		}
	}
	res.MessagesPerSec = round(float64(res.Received)/writeSeconds, 1)
	if len(latencies) > 0 {
		res.Latency = summarise(latencies)
		firsts, spreads := make([]time.Duration, 0, len(firstAt)), make([]time.Duration, 0, len(firstAt))
		for seq, f := range firstAt {
			firsts = append(firsts, f)
			spreads = append(spreads, lastAt[seq]-f)
		}
		res.First, res.Spread = summarise(firsts), summarise(spreads)
	}
	if res.FirstError != "" && firstErr == "" {
		firstErr = res.FirstError
	}
	if s, ok := writeErr.Load().(string); ok && firstErr == "" {
		firstErr = s
	}
	res.FirstError = firstErr
	res.DurationSeconds = round(time.Since(started).Seconds(), 3)
	return res, nil
}

// startCPUProfile writes a CPU profile to path until the returned
// function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// benchWSDatabase opens and migrates the database at url, or a fresh
// SQLite file in a temporary folder when url is empty.
func benchWSDatabase(ctx context.Context, url string) (*bun.DB, string, func(), error) {
	cleanup := func() {}
	if url == "" {
		dir, err := os.MkdirTemp("", "settle-bench-ws-")
		if err != nil {
			return nil, "", nil, err
		}
		cleanup = func() { os.RemoveAll(dir) }
		url = "sqlite://" + filepath.Join(dir, "settle.db")
	}
	db, err := invoice.OpenDB(url)
	if err != nil {
		cleanup()
		return nil, "", nil, err
	}
	if _, err := migrations.Up(ctx, db); err != nil {
		db.Close()
		cleanup()
		return nil, "", nil, fmt.Errorf("migrate %s: %w", redactURL(url), err)
	}
	return db, db.Dialect().Name().String(), func() { db.Close(); cleanup() }, nil
}

// benchWSEvents waits (up to 10 s) for every event to be sequenced and
// returns the merchant's events.
func benchWSEvents(ctx context.Context, db *bun.DB, merchantID string) ([]invoice.Event, error) {
	for deadline := time.Now().Add(10 * time.Second); ; {
		n, err := db.NewSelect().TableExpr("events").Where("sequence IS NULL").Count(ctx)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d events still unsequenced after 10s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var all []invoice.Event
	var after int64
	for {
		page, more, err := events.List(ctx, db, events.ListParams{MerchantID: merchantID, Mode: invoice.ModeTest, After: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if !more {
			return all, nil
		}
		after = page[len(page)-1].Sequence
	}
}

func (r *benchWSResult) writeText(w io.Writer) error {
	us := func(v int64) string { return (time.Duration(v) * time.Microsecond).String() }
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "server\t%s\n", r.Server)
	fmt.Fprintf(tw, "database\t%s\n", r.Database)
	fmt.Fprintf(tw, "cpus\t%d\n", r.CPUs)
	fmt.Fprintf(tw, "connections held\t%d of %d\t(opened in %.3fs; server counted %d)\n", r.Held, r.Connections, r.ConnectSeconds, r.HubConnections)
	fmt.Fprintf(tw, "cpu per event\t%.2f ms server, %.2f ms clients\t(user and system, while writing and reading)\n", r.ServerCPU, r.ClientCPU)
	fmt.Fprintf(tw, "memory\t%.1f MiB Go heap, %d goroutines\t(clients and server, all connections open)\n", r.HeapMiB, r.Goroutines)
	if r.ServerKiBPerConn > 0 {
		fmt.Fprintf(tw, "server memory per connection\t%.1f KiB resident: %.1f KiB Go heap, %.1f KiB goroutine stacks\n", r.ServerKiBPerConn, r.ServerHeapKiBPerConn, r.ServerStackKiBPerConn)
	}
	fmt.Fprintf(tw, "events\t%d\t(%.1f/s)\n", r.Events, r.EventsPerSecond)
	fmt.Fprintf(tw, "messages received\t%d of %d\t(%.1f/s)\n", r.Received, r.Expected, r.MessagesPerSec)
	fmt.Fprintf(tw, "missing\t%d\n", r.Missing)
	fmt.Fprintf(tw, "duplicates\t%d\n", r.Duplicates)
	fmt.Fprintf(tw, "out of order\t%d\n", r.OutOfOrder)
	fmt.Fprintf(tw, "latency p50\t%s\n", us(r.Latency.P50))
	fmt.Fprintf(tw, "latency p90\t%s\n", us(r.Latency.P90))
	fmt.Fprintf(tw, "latency p99\t%s\n", us(r.Latency.P99))
	fmt.Fprintf(tw, "latency max\t%s\n", us(r.Latency.Max))
	fmt.Fprintf(tw, "first connection p50, p99\t%s, %s\t(per event, to the first connection that read it)\n", us(r.First.P50), us(r.First.P99))
	fmt.Fprintf(tw, "fan-out p50, p99\t%s, %s\t(per event, from the first connection to the last)\n", us(r.Spread.P50), us(r.Spread.P99))
	fmt.Fprintf(tw, "run time\t%.3fs\n", r.DurationSeconds)
	if r.FirstError != "" {
		fmt.Fprintf(tw, "first error\t%s\n", r.FirstError)
	}
	return tw.Flush()
}
