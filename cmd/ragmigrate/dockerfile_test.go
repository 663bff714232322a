package main

import (
	"bufio"
	"cmp"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// repoRoot is the module's root, where the Dockerfile and go.mod live (tests run in the package's
// directory).
const repoRoot = "../.."

// dockerInstr is one Dockerfile instruction, continuation lines joined.
type dockerInstr struct {
	cmd  string // upper case: FROM, RUN, COPY, ...
	args string
}

// dockerStage is one FROM and the instructions under it.
type dockerStage struct {
	image, name, platform string
	instrs                []dockerInstr
}

// parseDockerfile reads the Dockerfile's stages. It knows what this project's Dockerfile uses
// (comments, '\' continuations, FROM [--platform=...] image [AS name]); anything before the first
// FROM other than ARG is an error.
func parseDockerfile(t *testing.T, path string) []dockerStage {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var stages []dockerStage
	var pending string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if pending == "" && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			pending += cont + " "
			continue
		}
		line, pending = pending+line, ""
		cmd, args, _ := strings.Cut(line, " ")
		in := dockerInstr{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			words := strings.Fields(in.args)
			st := dockerStage{}
			if p, ok := strings.CutPrefix(words[0], "--platform="); ok {
				st.platform, words = p, words[1:]
			}
			st.image = words[0]
			if len(words) == 3 && strings.EqualFold(words[1], "AS") {
				st.name = words[2]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			require.Equal(t, "ARG", in.cmd, "%s: only ARG may come before the first FROM", path)
			continue
		}
		stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
	}
	require.NoError(t, sc.Err())
	require.Empty(t, pending, "%s ends in a continuation", path)
	return stages
}

func (s dockerStage) all(cmd string) []string {
	var out []string
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// shellWords splits a RUN line as sh would for the simple forms it may take here: words,
// single and double quotes. Anything with shell syntax beyond that is refused, because the test
// could not run the line as the builder does.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	require.NotRegexp(t, "[;&|<>`()]|\\$\\(", line, "the build line must be one plain command: %s", line)
	var words []string
	var cur strings.Builder
	var quote rune
	inWord := false
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words, inWord = append(words, cur.String()), false
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	require.Zero(t, quote, "unbalanced quote in %s", line)
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// imageBuild is the builder stage's 'go build' line, as the Dockerfile says it.
type imageBuild struct {
	env    []string // NAME=value before 'go', with the stage's ARGs substituted
	args   []string // after 'go', with -o's value replaced by the test's output path
	output string   // the -o path in the image's builder stage
}

// The operator's binary built by the Dockerfile's own build line, once per test binary (the IAM
// policy test reads its symbols too).
var (
	dockerBuildOnce sync.Once
	dockerBuildBin  string
	dockerBuildLine imageBuild
	dockerBuildErr  error
)

// buildFromDockerfile runs the Dockerfile builder stage's 'go build' line on this machine, with
// the environment and flags it gives (TARGETOS and TARGETARCH set as BuildKit sets them for this
// machine's platform), into a temporary directory, and returns the binary. The line is read from
// the Dockerfile, so the test and the image cannot build differently.
func buildFromDockerfile(t *testing.T) (string, imageBuild) {
	t.Helper()
	dockerBuildOnce.Do(func() {
		dockerBuildBin, dockerBuildLine, dockerBuildErr = runDockerfileBuild(t)
	})
	require.NoError(t, dockerBuildErr)
	require.NotEmpty(t, dockerBuildBin, "the Dockerfile's build line could not be run (see the first failure)")
	return dockerBuildBin, dockerBuildLine
}

func runDockerfileBuild(t *testing.T) (string, imageBuild, error) {
	stages := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	require.NotEmpty(t, stages)
	b := stages[0]
	var line string
	for _, run := range b.all("RUN") {
		if strings.Contains(run, "go build") {
			require.Empty(t, line, "the builder stage must have one 'go build' RUN")
			line = run
		}
	}
	require.NotEmpty(t, line, "the builder stage has no 'go build' RUN")
	// The values BuildKit gives the platform ARGs when building for this machine; a stage sees
	// an ARG only if it declares it.
	platform := map[string]string{"TARGETOS": runtime.GOOS, "TARGETARCH": runtime.GOARCH}
	args := map[string]string{}
	for _, a := range b.all("ARG") {
		for _, decl := range strings.Fields(a) {
			name, def, _ := strings.Cut(decl, "=")
			args[name] = cmp.Or(platform[name], def)
		}
	}
	expand := func(s string) string {
		return os.Expand(s, func(name string) string {
			v, ok := args[name]
			require.True(t, ok, "the build line uses $%s, which no ARG declares", name)
			return v
		})
	}
	var ib imageBuild
	words := shellWords(t, line)
	for len(words) > 0 && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`).MatchString(words[0]) {
		ib.env, words = append(ib.env, expand(words[0])), words[1:]
	}
	require.GreaterOrEqual(t, len(words), 2)
	require.Equal(t, []string{"go", "build"}, words[:2], "the build line runs go build")
	dir, err := os.MkdirTemp(filepath.Dir(binary), "dockerfile-")
	require.NoError(t, err)
	out := filepath.Join(dir, "ragmigrate")
	for i := 1; i < len(words); i++ {
		w := expand(words[i])
		if w == "-o" && i+1 < len(words) {
			ib.output = words[i+1]
			ib.args = append(ib.args, w, out)
			i++
			continue
		}
		ib.args = append(ib.args, w)
	}
	require.NotEmpty(t, ib.output, "the build line names its output with -o")
	cmd := exec.Command("go", ib.args...)
	cmd.Dir = buildContext(t, dir)
	// The builder's environment: the image's defaults plus the line's own assignments; none of
	// this machine's Go settings (GOFLAGS could add -tags dev) leak in.
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOEXPERIMENT=")
	cmd.Env = append(cmd.Env, ib.env...)
	if o, err := cmd.CombinedOutput(); err != nil {
		return "", ib, fmt.Errorf("%v %v: %v\n%s", ib.env, ib.args, err, o)
	}
	return out, ib, nil
}

// buildContext copies what the image's build sees into dir/context: the repository's files
// (git ls-files) less what .dockerignore leaves out, so a file the build needs and
// .dockerignore drops fails the test as it would fail the image.
func buildContext(t *testing.T, dir string) string {
	t.Helper()
	ignore, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	require.NoError(t, err)
	var patterns []string
	for _, line := range strings.Split(string(ignore), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// Docker's rules for the patterns used here: anchored at the context's root, matched
		// with filepath.Match, a matched directory excluding all below it.
		require.False(t, strings.HasPrefix(line, "!") || strings.Contains(line, "**"), ".dockerignore: the test does not implement %q", line)
		patterns = append(patterns, filepath.Clean(strings.TrimPrefix(line, "/")))
	}
	ignored := func(path string) bool {
		for p := path; p != "."; p = filepath.Dir(p) {
			for _, pat := range patterns {
				if ok, _ := filepath.Match(pat, p); ok {
					return true
				}
			}
		}
		return false
	}
	files, err := exec.Command("git", "-C", repoRoot, "ls-files", "-z").Output()
	require.NoError(t, err)
	ctx := filepath.Join(dir, "context")
	for _, f := range strings.Split(strings.TrimRight(string(files), "\x00"), "\x00") {
		if ignored(f) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if os.IsNotExist(err) { // deleted in the work tree, not yet in git
			continue
		}
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Join(ctx, filepath.Dir(f)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(ctx, f), b, 0o644))
	}
	return ctx
}

// TestDockerfile checks the image's recipe without a container builder (none exists on these
// machines): the stages, their base images, the non-root user and the entrypoint as parsed from
// the Dockerfile; then it runs the builder stage's own 'go build' line in a copy of the build
// context (.dockerignore applied) and checks that what it
// builds is a static binary (no ELF interpreter, no dynamic section: it runs on a base without a
// C library), the operator's build (no development rig), and works (--help).
func TestDockerfile(t *testing.T) {
	t.Parallel()
	stages := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	require.Len(t, stages, 2, "a builder stage and the final stage")
	builder, final := stages[0], stages[1]

	t.Run("BuilderPinnedToGoMod", func(t *testing.T) {
		mod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
		require.NoError(t, err)
		want := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
		require.NotNil(t, want, "go.mod has a go line")
		if tc := regexp.MustCompile(`(?m)^toolchain go(\S+)$`).FindSubmatch(mod); tc != nil {
			want = tc
		}
		require.Regexp(t, `^golang:`+regexp.QuoteMeta(string(want[1]))+`(-[a-z0-9]+)?$`, builder.image, "the builder's Go is go.mod's")
		require.NotEmpty(t, builder.name)
		require.Equal(t, "$BUILDPLATFORM", builder.platform, "the builder cross-compiles instead of running emulated")
	})

	t.Run("FinalStage", func(t *testing.T) {
		require.Regexp(t, `^(gcr\.io/distroless/static(-debian\d+)?:nonroot|scratch)$`, final.image, "a minimal base: distroless static (CA certificates, no shell) or scratch")
		for _, s := range stages {
			require.NotRegexp(t, `:latest$|^[^:@]+$`, strings.TrimPrefix(s.image, "scratch"), "%s: pin the tag", s.image)
		}
		users := final.all("USER")
		require.NotEmpty(t, users, "the final stage names its user")
		user, _, _ := strings.Cut(users[len(users)-1], ":")
		require.NotContains(t, []string{"root", "0", ""}, user, "the image runs as a non-root user")
		if final.image == "scratch" {
			require.True(t, slices.ContainsFunc(final.all("COPY"), func(c string) bool { return strings.Contains(c, "ca-certificates") }),
				"scratch needs the CA certificates copied in (AWS and RDS use TLS)")
		}

		entry := final.all("ENTRYPOINT")
		require.Len(t, entry, 1)
		var argv []string
		require.NoError(t, json.Unmarshal([]byte(entry[0]), &argv), "ENTRYPOINT in exec form (no shell in the image)")
		require.Len(t, argv, 1)
		_, ib := buildFromDockerfile(t)
		copied := false
		for _, c := range final.all("COPY") {
			f := strings.Fields(c)
			if len(f) == 3 && f[0] == "--from="+builder.name && f[1] == ib.output && f[2] == argv[0] {
				copied = true
			}
		}
		require.True(t, copied, "the final stage copies the builder's %s to the entrypoint %s", ib.output, argv[0])
	})

	t.Run("BuildLine", func(t *testing.T) {
		_, ib := buildFromDockerfile(t)
		require.Contains(t, ib.env, "CGO_ENABLED=0", "a static binary")
		require.Contains(t, ib.args, "-trimpath")
		require.Equal(t, "./cmd/ragmigrate", ib.args[len(ib.args)-1])
		for _, a := range ib.args {
			require.NotRegexp(t, `^-tags`, a, "the release build has no build tags (no development rig)")
		}
	})

	t.Run("StaticBinary", func(t *testing.T) {
		bin, _ := buildFromDockerfile(t)
		f, err := elf.Open(bin)
		require.NoError(t, err)
		defer f.Close()
		for _, p := range f.Progs {
			require.NotEqual(t, elf.PT_INTERP, p.Type, "no dynamic loader")
			require.NotEqual(t, elf.PT_DYNAMIC, p.Type, "no dynamic section")
		}
		require.Nil(t, f.Section(".interp"))
		require.Nil(t, f.Section(".dynamic"))
		libs, err := f.ImportedLibraries()
		require.NoError(t, err)
		require.Empty(t, libs)
	})

	t.Run("OperatorBuild", func(t *testing.T) {
		bin, _ := buildFromDockerfile(t)
		modules, symbols := linked(t, bin)
		for _, m := range rigModules {
			require.NotContains(t, modules, m)
		}
		require.NotContains(t, symbols, rigPackages)
		require.Contains(t, modules, "build\tCGO_ENABLED=0")
		require.Contains(t, modules, "build\t-trimpath=true")

		out, err := exec.Command(bin, "--help").Output()
		require.NoError(t, err)
		require.Contains(t, string(out), "ragmigrate moves a RAG chat platform's knowledge store")
		require.NotContains(t, string(out), "\n  dev ", "the image's help lists no dev command")

		cmd := exec.Command(bin, "dev", "stack", "up")
		cmd.Env = testEnv(nil)
		o, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "%s", o)
		require.Equal(t, exitUsage, ee.ExitCode(), "%s", o)
		require.Contains(t, string(o), "this is the operator's build, without the development rig")
	})
}
