package lint

import (
	"github.com/moby/buildkit/frontend/dockerfile/linter"
)

// Rules returns every rule strata knows, BuildKit's checks first, then
// strata's own, then hadolint's.
func Rules() []Rule {
	return []Rule{
		stageNameCasing(),
		fromAsCasing(),
		noEmptyContinuation(),
		consistentInstructionCasing(),
		duplicateStageName(),
		reservedStageName(),
		jsonArgsRecommended(),
		maintainerDeprecated(),
		undefinedArgInFrom(),
		workdirRelativePath(),
		undefinedVar(),
		multipleInstructionsDisallowed(),
		legacyKeyValueFormat(),
		redundantTargetPlatform(),
		secretsUsedInArgOrEnv(),
		invalidDefaultArgInFrom(),
		fromPlatformFlagConstDisallowed(),
		copyIgnoredFile(),
		exposeProtoCasing(),
		exposeInvalidFormat(),

		sdkFinalStage(),
		buildToolsInFinalStage(),
		copyContextIntoFinalStage(),
		sourceBeforeManifests(),
		dependencyCacheMount(),
		dockerignoreMissing(),
		dockerignoreIncomplete(),
		finalStageRoot(),
		unusedStage(),
		copyFromIndex(),
		staticBinaryFinalStage(),
		emulatedCompile(),

		untaggedBaseImage(),
		latestBaseImage(),
		unpinnedAptPackages(),
		aptListsNotCleaned(),
		aptInstallRecommends(),
		unpinnedApkPackages(),
		apkAddWithoutNoCache(),
		addForLocalFiles(),
		copyFromUndefinedStage(),
		copyFromOwnStage(),
		pipCacheDir(),
		unpinnedPipPackages(),
		cdInsteadOfWorkdir(),
		exposePortOutOfRange(),
		consecutiveRuns(),
		pipeWithoutPipefail(),
	}
}

// buildkitRule is the data of one of BuildKit's checks, from its linter
// package: same name, description and URL.
func buildkitRule[F any](r *linter.LinterRule[F], fix string, check func(*Input) []Problem) Rule {
	return Rule{ID: r.Name, Family: BuildKit, Severity: Warning, Summary: r.Description, URL: r.URL, Fix: fix, Check: check}
}

// parseWarnings reports the findings BuildKit's parser made for rule while
// dockerfile.Parse ran.
func parseWarnings(rule string) func(*Input) []Problem {
	return func(in *Input) []Problem {
		var out []Problem
		for _, w := range in.File.Warnings {
			if w.Rule == rule {
				out = append(out, Problem{Line: w.Line, Message: w.Message})
			}
		}
		return out
	}
}

// docURL is the documentation of one of strata's rules.
func docURL(anchor string) string {
	return "https://github.com/strata-build/strata/blob/main/docs/lint.md#" + anchor
}
