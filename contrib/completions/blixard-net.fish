# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_blixard_net_global_optspecs
    string join \n config= vms= user= external-interface= netns= json v/verbose h/help V/version
end

function __fish_blixard_net_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_blixard_net_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_blixard_net_using_subcommand
    set -l cmd (__fish_blixard_net_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c blixard-net -n "__fish_blixard_net_needs_command" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_needs_command" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_needs_command" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_needs_command" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_needs_command" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_needs_command" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -s h -l help -d 'Print help'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -f -a "apply" -d 'Reconcile the host to the plan (create what is missing, fix drift)'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -f -a "down" -d 'Remove everything blixard-net owns (taps, addresses, routes, our nft table) and nothing else'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -f -a "__try-open-tap" -d 'Opens tap NAME as a VMM would and closes it (doctor runs it as the tap owner, to learn whether that user can)'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -f -a "wire" -d 'Wire one VM (its tap, addresses, routes, firewall set elements), touching no other VM: for orchestrators starting a VM'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -f -a "unwire" -d 'Remove one VM\'s tap and firewall set elements, touching no other VM'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -f -a "status" -d 'Compare the host with the plan; exit 3 and name each drift'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -f -a "stats" -d 'Per-VM counters: bytes and packets each way, spoofed and firewall drops (or --json)'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -f -a "metrics" -d 'Serve the per-VM counters at GET /metrics in Prometheus\' text format'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -f -a "watch" -d 'Keep the host reconciled: repair drift of ours (a flushed ruleset, a deleted route, a downed tap) as the kernel and nft announce it, with `apply`\'s reconcile under the lock, logging each repair on stderr; until SIGTERM or SIGINT (exit 0)'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -f -a "doctor" -d 'Troubleshooting checks, each PASS/WARN/FAIL with the fix'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -f -a "plan" -d 'The desired state as a table (or --json)'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -f -a "addr" -d 'One VM\'s mapping, by index, interface, IPv4, IPv6 or MAC'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -f -a "guest" -d 'The guest\'s network configuration'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -f -a "vmm" -d 'The VMM\'s network arguments, consistent with the tap flags'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -f -a "alloc" -d 'Allocate a VM index (lowest free, or --index), recorded in the state file'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -f -a "release" -d 'Release an allocated index by name or number'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -f -a "list" -d 'List allocated indices'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -f -a "bgp" -d 'Clusters routed by BGP (the `[bgp]` section)'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -f -a "schema" -d 'The config file\'s JSON schema'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -f -a "completions" -d 'Shell completions'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -f -a "demo" -d 'Build throwaway namespaces (host, guests behind stand-in VMMs, an upstream), apply, print a connectivity matrix, tear down. Never touches this machine\'s own network. `--vms N` sets the guest count (default 3; with --hosts, per host, default 2)'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -f -a "__generate-docs" -d 'Writes the man pages, shell completions and example config into DIR (`cargo xtask docs` regenerates `contrib/` with it)'
complete -c blixard-net -n "__fish_blixard_net_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand apply" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_using_subcommand apply" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand apply" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand apply" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand apply" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand apply" -l dry-run -d 'Print the change list and change nothing'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand apply" -l allow-recreate -d 'Recreate idle taps whose type or multi_queue differ from the plan (never one a running VMM holds: that VM is left as it is)'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand apply" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand apply" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand apply" -s h -l help -d 'Print help'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand apply" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand down" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_using_subcommand down" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand down" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand down" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand down" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand down" -l dry-run -d 'Print the change list and change nothing'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand down" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand down" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand down" -s h -l help -d 'Print help'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand down" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand __try-open-tap" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_using_subcommand __try-open-tap" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand __try-open-tap" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand __try-open-tap" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand __try-open-tap" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand __try-open-tap" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand __try-open-tap" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand __try-open-tap" -s h -l help -d 'Print help'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand __try-open-tap" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand wire" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_using_subcommand wire" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand wire" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand wire" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand wire" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand wire" -l dry-run -d 'Print the change list and change nothing'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand wire" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand wire" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand wire" -s h -l help -d 'Print help'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand wire" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand unwire" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_using_subcommand unwire" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand unwire" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand unwire" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand unwire" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand unwire" -l dry-run -d 'Print the change list and change nothing'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand unwire" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand unwire" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand unwire" -s h -l help -d 'Print help'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand unwire" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand status" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_using_subcommand status" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand status" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand status" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand status" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand status" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand status" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand status" -s h -l help -d 'Print help'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand status" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand stats" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_using_subcommand stats" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand stats" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand stats" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand stats" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand stats" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand stats" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand stats" -s h -l help -d 'Print help'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand stats" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand metrics" -l listen -d 'Address and port to listen on (loopback by default)' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand metrics" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_using_subcommand metrics" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand metrics" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand metrics" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand metrics" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand metrics" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand metrics" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand metrics" -s h -l help -d 'Print help'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand metrics" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand watch" -l debounce-ms -d 'Quiet time after the last change before repairing' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand watch" -l interval -d 'A full check this often even without changes (0: never)' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand watch" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_using_subcommand watch" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand watch" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand watch" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand watch" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand watch" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand watch" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand watch" -s h -l help -d 'Print help'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand watch" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand doctor" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_using_subcommand doctor" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand doctor" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand doctor" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand doctor" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand doctor" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand doctor" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand doctor" -s h -l help -d 'Print help'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand plan" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_using_subcommand plan" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand plan" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand plan" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand plan" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand plan" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand plan" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand plan" -s h -l help -d 'Print help'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand plan" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand addr" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_using_subcommand addr" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand addr" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand addr" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand addr" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand addr" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand addr" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand addr" -s h -l help -d 'Print help'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand addr" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand guest" -l format -d 'Output format' -r -f -a "networkd\t'systemd-networkd `.network` file'
nixos\t'NixOS / microvm.nix snippet'
cloud-init\t'cloud-init network-config v2'
shell\t'Shell script of `ip` commands'"
complete -c blixard-net -n "__fish_blixard_net_using_subcommand guest" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_using_subcommand guest" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand guest" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand guest" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand guest" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand guest" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand guest" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand guest" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand guest" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand vmm" -l kind -d 'Which VMM' -r -f -a "firecracker\t'Firecracker `network-interfaces` JSON'
cloud-hypervisor\t'cloud-hypervisor `--net`'
qemu\t'qemu `-netdev`/`-device`'"
complete -c blixard-net -n "__fish_blixard_net_using_subcommand vmm" -l queues -d 'Queue pairs (more than one needs `tap.multi_queue`)' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand vmm" -l vhost -d 'qemu\'s `vhost=on`: `auto` renders it only where `/dev/vhost-net` exists (qemu aborts without it)' -r -f -a "auto\t'On where `/dev/vhost-net` exists'
on\t'Always (the host will have `/dev/vhost-net` when the VM starts)'
off\t'Never'"
complete -c blixard-net -n "__fish_blixard_net_using_subcommand vmm" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_using_subcommand vmm" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand vmm" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand vmm" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand vmm" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand vmm" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand vmm" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand vmm" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand vmm" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand alloc" -l index -d 'A specific index' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand alloc" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_using_subcommand alloc" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand alloc" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand alloc" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand alloc" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand alloc" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand alloc" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand alloc" -s h -l help -d 'Print help'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand alloc" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand release" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_using_subcommand release" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand release" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand release" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand release" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand release" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand release" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand release" -s h -l help -d 'Print help'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand release" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand list" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_using_subcommand list" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand list" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand list" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand list" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand list" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand list" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand list" -s h -l help -d 'Print help'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand list" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand bgp; and not __fish_seen_subcommand_from config help" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_using_subcommand bgp; and not __fish_seen_subcommand_from config help" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand bgp; and not __fish_seen_subcommand_from config help" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand bgp; and not __fish_seen_subcommand_from config help" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand bgp; and not __fish_seen_subcommand_from config help" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand bgp; and not __fish_seen_subcommand_from config help" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand bgp; and not __fish_seen_subcommand_from config help" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand bgp; and not __fish_seen_subcommand_from config help" -s h -l help -d 'Print help'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand bgp; and not __fish_seen_subcommand_from config help" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand bgp; and not __fish_seen_subcommand_from config help" -f -a "config" -d 'Print this host\'s BIRD 2 configuration: what `apply` writes to `bgp.bird_config` (its blocks, its VMs outside them, the sessions and their filters)'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand bgp; and not __fish_seen_subcommand_from config help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand bgp; and __fish_seen_subcommand_from config" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_using_subcommand bgp; and __fish_seen_subcommand_from config" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand bgp; and __fish_seen_subcommand_from config" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand bgp; and __fish_seen_subcommand_from config" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand bgp; and __fish_seen_subcommand_from config" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand bgp; and __fish_seen_subcommand_from config" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand bgp; and __fish_seen_subcommand_from config" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand bgp; and __fish_seen_subcommand_from config" -s h -l help -d 'Print help'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand bgp; and __fish_seen_subcommand_from config" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand bgp; and __fish_seen_subcommand_from help" -f -a "config" -d 'Print this host\'s BIRD 2 configuration: what `apply` writes to `bgp.bird_config` (its blocks, its VMs outside them, the sessions and their filters)'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand bgp; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand schema" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_using_subcommand schema" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand schema" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand schema" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand schema" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand schema" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand schema" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand schema" -s h -l help -d 'Print help'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand schema" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand completions" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_using_subcommand completions" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand completions" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand completions" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand completions" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand completions" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand completions" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand completions" -s h -l help -d 'Print help'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand completions" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand demo" -l hosts -d 'Build a cluster of N hosts (2..=8) on a fabric, each with its own BIRD, and probe every VM to every VM on the other hosts' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand demo" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_using_subcommand demo" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand demo" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand demo" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand demo" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand demo" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand demo" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand demo" -s h -l help -d 'Print help'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand demo" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand __generate-docs" -l config -d 'Config file [default: /etc/blixard/network.toml when present, else the built-in defaults: the seed\'s 64-VM layout]' -r -F
complete -c blixard-net -n "__fish_blixard_net_using_subcommand __generate-docs" -l vms -d 'Number of VMs (1..=N), overriding `vms` in the config' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand __generate-docs" -l user -d 'Tap owner (user name or uid), overriding `owner`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand __generate-docs" -l external-interface -d 'Interface towards the internet ("auto", "none" or a name), overriding `external_interface`' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand __generate-docs" -l netns -d 'Network namespace to act in: NAME (/run/netns/NAME), an absolute path, or pid:N. Default: the current one' -r
complete -c blixard-net -n "__fish_blixard_net_using_subcommand __generate-docs" -l json -d 'Machine-readable output'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand __generate-docs" -s v -l verbose -d 'More detail'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand __generate-docs" -s h -l help -d 'Print help'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand __generate-docs" -s V -l version -d 'Print version'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and not __fish_seen_subcommand_from apply down __try-open-tap wire unwire status stats metrics watch doctor plan addr guest vmm alloc release list bgp schema completions demo __generate-docs help" -f -a "apply" -d 'Reconcile the host to the plan (create what is missing, fix drift)'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and not __fish_seen_subcommand_from apply down __try-open-tap wire unwire status stats metrics watch doctor plan addr guest vmm alloc release list bgp schema completions demo __generate-docs help" -f -a "down" -d 'Remove everything blixard-net owns (taps, addresses, routes, our nft table) and nothing else'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and not __fish_seen_subcommand_from apply down __try-open-tap wire unwire status stats metrics watch doctor plan addr guest vmm alloc release list bgp schema completions demo __generate-docs help" -f -a "__try-open-tap" -d 'Opens tap NAME as a VMM would and closes it (doctor runs it as the tap owner, to learn whether that user can)'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and not __fish_seen_subcommand_from apply down __try-open-tap wire unwire status stats metrics watch doctor plan addr guest vmm alloc release list bgp schema completions demo __generate-docs help" -f -a "wire" -d 'Wire one VM (its tap, addresses, routes, firewall set elements), touching no other VM: for orchestrators starting a VM'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and not __fish_seen_subcommand_from apply down __try-open-tap wire unwire status stats metrics watch doctor plan addr guest vmm alloc release list bgp schema completions demo __generate-docs help" -f -a "unwire" -d 'Remove one VM\'s tap and firewall set elements, touching no other VM'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and not __fish_seen_subcommand_from apply down __try-open-tap wire unwire status stats metrics watch doctor plan addr guest vmm alloc release list bgp schema completions demo __generate-docs help" -f -a "status" -d 'Compare the host with the plan; exit 3 and name each drift'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and not __fish_seen_subcommand_from apply down __try-open-tap wire unwire status stats metrics watch doctor plan addr guest vmm alloc release list bgp schema completions demo __generate-docs help" -f -a "stats" -d 'Per-VM counters: bytes and packets each way, spoofed and firewall drops (or --json)'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and not __fish_seen_subcommand_from apply down __try-open-tap wire unwire status stats metrics watch doctor plan addr guest vmm alloc release list bgp schema completions demo __generate-docs help" -f -a "metrics" -d 'Serve the per-VM counters at GET /metrics in Prometheus\' text format'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and not __fish_seen_subcommand_from apply down __try-open-tap wire unwire status stats metrics watch doctor plan addr guest vmm alloc release list bgp schema completions demo __generate-docs help" -f -a "watch" -d 'Keep the host reconciled: repair drift of ours (a flushed ruleset, a deleted route, a downed tap) as the kernel and nft announce it, with `apply`\'s reconcile under the lock, logging each repair on stderr; until SIGTERM or SIGINT (exit 0)'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and not __fish_seen_subcommand_from apply down __try-open-tap wire unwire status stats metrics watch doctor plan addr guest vmm alloc release list bgp schema completions demo __generate-docs help" -f -a "doctor" -d 'Troubleshooting checks, each PASS/WARN/FAIL with the fix'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and not __fish_seen_subcommand_from apply down __try-open-tap wire unwire status stats metrics watch doctor plan addr guest vmm alloc release list bgp schema completions demo __generate-docs help" -f -a "plan" -d 'The desired state as a table (or --json)'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and not __fish_seen_subcommand_from apply down __try-open-tap wire unwire status stats metrics watch doctor plan addr guest vmm alloc release list bgp schema completions demo __generate-docs help" -f -a "addr" -d 'One VM\'s mapping, by index, interface, IPv4, IPv6 or MAC'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and not __fish_seen_subcommand_from apply down __try-open-tap wire unwire status stats metrics watch doctor plan addr guest vmm alloc release list bgp schema completions demo __generate-docs help" -f -a "guest" -d 'The guest\'s network configuration'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and not __fish_seen_subcommand_from apply down __try-open-tap wire unwire status stats metrics watch doctor plan addr guest vmm alloc release list bgp schema completions demo __generate-docs help" -f -a "vmm" -d 'The VMM\'s network arguments, consistent with the tap flags'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and not __fish_seen_subcommand_from apply down __try-open-tap wire unwire status stats metrics watch doctor plan addr guest vmm alloc release list bgp schema completions demo __generate-docs help" -f -a "alloc" -d 'Allocate a VM index (lowest free, or --index), recorded in the state file'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and not __fish_seen_subcommand_from apply down __try-open-tap wire unwire status stats metrics watch doctor plan addr guest vmm alloc release list bgp schema completions demo __generate-docs help" -f -a "release" -d 'Release an allocated index by name or number'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and not __fish_seen_subcommand_from apply down __try-open-tap wire unwire status stats metrics watch doctor plan addr guest vmm alloc release list bgp schema completions demo __generate-docs help" -f -a "list" -d 'List allocated indices'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and not __fish_seen_subcommand_from apply down __try-open-tap wire unwire status stats metrics watch doctor plan addr guest vmm alloc release list bgp schema completions demo __generate-docs help" -f -a "bgp" -d 'Clusters routed by BGP (the `[bgp]` section)'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and not __fish_seen_subcommand_from apply down __try-open-tap wire unwire status stats metrics watch doctor plan addr guest vmm alloc release list bgp schema completions demo __generate-docs help" -f -a "schema" -d 'The config file\'s JSON schema'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and not __fish_seen_subcommand_from apply down __try-open-tap wire unwire status stats metrics watch doctor plan addr guest vmm alloc release list bgp schema completions demo __generate-docs help" -f -a "completions" -d 'Shell completions'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and not __fish_seen_subcommand_from apply down __try-open-tap wire unwire status stats metrics watch doctor plan addr guest vmm alloc release list bgp schema completions demo __generate-docs help" -f -a "demo" -d 'Build throwaway namespaces (host, guests behind stand-in VMMs, an upstream), apply, print a connectivity matrix, tear down. Never touches this machine\'s own network. `--vms N` sets the guest count (default 3; with --hosts, per host, default 2)'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and not __fish_seen_subcommand_from apply down __try-open-tap wire unwire status stats metrics watch doctor plan addr guest vmm alloc release list bgp schema completions demo __generate-docs help" -f -a "__generate-docs" -d 'Writes the man pages, shell completions and example config into DIR (`cargo xtask docs` regenerates `contrib/` with it)'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and not __fish_seen_subcommand_from apply down __try-open-tap wire unwire status stats metrics watch doctor plan addr guest vmm alloc release list bgp schema completions demo __generate-docs help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c blixard-net -n "__fish_blixard_net_using_subcommand help; and __fish_seen_subcommand_from bgp" -f -a "config" -d 'Print this host\'s BIRD 2 configuration: what `apply` writes to `bgp.bird_config` (its blocks, its VMs outside them, the sessions and their filters)'
