package main

import (
	"log/slog"

	"github.com/spf13/pflag"
)

// deprecatedAnnotation marks a flag kept only as an old name; its value is the message.
const deprecatedAnnotation = "ragmigrate/deprecated"

// deprecate hides the flag old from help and makes warnDeprecated name its replacement when it
// is used. pflag's MarkDeprecated would do the same, but cobra prints its line through the
// command's output writer, which is stdout here: the line would corrupt --json output.
func deprecate(fs *pflag.FlagSet, old, message string) {
	_ = fs.MarkHidden(old)
	_ = fs.SetAnnotation(old, deprecatedAnnotation, []string{message})
}

// warnDeprecated logs a warning for each deprecated flag that was set: a log line like any
// other on stderr, in the --log-format asked for.
func warnDeprecated(fs *pflag.FlagSet, logger *slog.Logger) {
	fs.Visit(func(f *pflag.Flag) {
		if msg := f.Annotations[deprecatedAnnotation]; len(msg) > 0 {
			logger.Warn("Flag --"+f.Name+" has been deprecated, "+msg[0], slog.String("flag", f.Name))
		}
	})
}
