package sandbox

import (
	"fmt"
	"slices"

	"github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// filterRules is a seccomp profile reduced to one architecture: the action
// for calls no rule matches, and for each syscall, one action and the
// argument conditions under which it applies.
type filterRules struct {
	def   seccomp.Action
	calls []callRule
}

// callRule is what a filter does with one syscall.
type callRule struct {
	name   string
	nr     uint32
	action seccomp.Action
	// alternatives are the sets of conditions of which one must hold
	// entirely for action to apply; nil applies it to every call.
	alternatives []seccomp.ArgumentConditions
}

// compileProfile translates a resolved runtime-spec seccomp profile into
// rules for the architecture info describes, with the meaning libseccomp
// gives it under runc:
//
//   - Syscall names the architecture lacks are skipped (the 32-bit and
//     other-architecture names of a multi-architecture profile).
//   - The arguments of one rule must all match, except that a rule
//     comparing one argument more than once matches when any comparison
//     does.
//   - Each syscall may have one action only: a rule with no arguments
//     makes the syscall's other rules redundant, and rules of different
//     actions for one syscall are refused, since their precedence would
//     depend on the order of the checks.
//
// Where the rules cannot express a comparison (a masked comparison other
// than "no bit of the mask set", "the single bit set" or "anything"; an
// argument index past 5), the rule is compiled to the stricter side: an allow rule
// loses that alternative, so the call falls to the default action, and any
// other rule matches regardless of the arguments.
func compileProfile(p *specs.LinuxSeccomp, info *arch.Info) (filterRules, error) {
	def, err := policyAction(p.DefaultAction, p.DefaultErrnoRet)
	if err != nil {
		return filterRules{}, fmt.Errorf("compiling seccomp default action: %w", err)
	}

	type callRules struct {
		action        seccomp.Action
		unconditional bool
		alternatives  []seccomp.ArgumentConditions
	}
	rules := map[string]*callRules{}
	var order []string
	for i, rule := range p.Syscalls {
		action, err := policyAction(rule.Action, rule.ErrnoRet)
		if err != nil {
			return filterRules{}, fmt.Errorf("compiling seccomp rule %d (%v): %w", i, rule.Names, err)
		}
		alts, exact := ruleAlternatives(rule.Args)
		// An alternative without conditions matches every call.
		unconditional := len(rule.Args) == 0 || (!exact && action != seccomp.ActionAllow) ||
			slices.ContainsFunc(alts, func(c seccomp.ArgumentConditions) bool { return len(c) == 0 })
		if !unconditional && len(alts) == 0 {
			continue // an allow rule none of whose alternatives can be expressed
		}
		for _, name := range rule.Names {
			if _, ok := info.SyscallNames[name]; !ok {
				continue
			}
			r, seen := rules[name]
			if !seen {
				r = &callRules{action: action}
				rules[name] = r
				order = append(order, name)
			}
			if r.action != action {
				return filterRules{}, fmt.Errorf("compiling seccomp rule %d: syscall %s has rules with actions %#x and %#x", i, name, uint32(r.action), uint32(action))
			}
			if unconditional {
				r.unconditional, r.alternatives = true, nil
			} else if !r.unconditional {
				r.alternatives = append(r.alternatives, alts...)
			}
		}
	}

	var rs filterRules
	rs.def = def
	for _, name := range order {
		r := rules[name]
		call := callRule{name: name, nr: uint32(info.SyscallNames[name] | info.SeccompMask), action: r.action}
		if !r.unconditional {
			call.alternatives = r.alternatives
		}
		rs.calls = append(rs.calls, call)
	}
	if len(rs.calls) == 0 {
		// Nothing could run, not even the exec of the command.
		return filterRules{}, fmt.Errorf("compiling seccomp profile: no rule applies to %s", info.Name)
	}
	return rs, nil
}

// policyAction translates a runtime-spec action. An errno action returns
// errnoRet, or EPERM when it is nil.
func policyAction(a specs.LinuxSeccompAction, errnoRet *uint) (seccomp.Action, error) {
	switch a {
	case specs.ActAllow:
		return seccomp.ActionAllow, nil
	case specs.ActErrno:
		errno := uint(unix.EPERM)
		if errnoRet != nil {
			errno = *errnoRet
		}
		if errno > unix.SECCOMP_RET_DATA {
			return 0, fmt.Errorf("errno %d does not fit a seccomp return value", errno)
		}
		return seccomp.ActionErrno | seccomp.Action(errno), nil
	case specs.ActKill, specs.ActKillThread:
		return seccomp.ActionKillThread, nil
	case specs.ActKillProcess:
		return seccomp.ActionKillProcess, nil
	case specs.ActTrap:
		return seccomp.ActionTrap, nil
	case specs.ActLog:
		return seccomp.ActionLog, nil
	}
	return 0, fmt.Errorf("unsupported seccomp action %q", a)
}

// ruleAlternatives translates a rule's argument comparisons into the
// alternatives of which one must match. exact is false when some
// comparison could not be expressed and was left out.
func ruleAlternatives(args []specs.LinuxSeccompArg) (alts []seccomp.ArgumentConditions, exact bool) {
	if len(args) == 0 {
		return nil, true
	}
	// runc hands libseccomp each comparison as a rule of its own when one
	// argument is compared more than once, as libseccomp cannot AND two
	// comparisons of one argument.
	perIndex := map[uint]int{}
	for _, a := range args {
		perIndex[a.Index]++
	}
	anyRepeated := slices.ContainsFunc(args, func(a specs.LinuxSeccompArg) bool { return perIndex[a.Index] > 1 })

	exact = true
	var all seccomp.ArgumentConditions
	for _, a := range args {
		c, always, ok := condition(a)
		switch {
		case !ok:
			exact = false
			if !anyRepeated {
				return nil, false // the single alternative cannot be expressed
			}
		case anyRepeated && always:
			// One alternative always matches: the rule matches any call.
			return []seccomp.ArgumentConditions{{}}, true
		case anyRepeated:
			alts = append(alts, seccomp.ArgumentConditions{c})
		case !always:
			all = append(all, c)
		}
	}
	if anyRepeated {
		return alts, exact
	}
	return []seccomp.ArgumentConditions{all}, true
}

// condition translates one comparison. always is true for a comparison
// every value satisfies; ok is false when the filter cannot
// express it.
func condition(a specs.LinuxSeccompArg) (c seccomp.Condition, always, ok bool) {
	if a.Index > 5 {
		return c, false, false
	}
	c = seccomp.Condition{Argument: uint32(a.Index), Value: a.Value}
	if op, ok := comparisons[a.Op]; ok {
		c.Operation = op
		return c, false, true
	}
	if a.Op != specs.OpMaskedEqual {
		return c, false, false
	}
	// Value is the mask and ValueTwo the value the masked argument must
	// equal.
	mask, want := a.Value, a.ValueTwo
	switch {
	case mask == 0 && want == 0:
		return c, true, true
	case want == 0:
		c.Operation = seccomp.BitsNotSet
	case want == mask && mask&(mask-1) == 0:
		c.Operation = seccomp.BitsSet
	default:
		return c, false, false
	}
	return c, false, true
}

// comparisons are the profile's operators that the filter has a
// comparison for as they are.
var comparisons = map[specs.LinuxSeccompOperator]seccomp.Operation{
	specs.OpEqualTo:      seccomp.Equal,
	specs.OpNotEqual:     seccomp.NotEqual,
	specs.OpLessThan:     seccomp.LessThan,
	specs.OpLessEqual:    seccomp.LessOrEqual,
	specs.OpGreaterThan:  seccomp.GreaterThan,
	specs.OpGreaterEqual: seccomp.GreaterOrEqual,
}
