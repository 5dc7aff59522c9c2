using BenchmarkDotNet.Running;
using UltraRepo.Benchmarks;

// `generate-listings N file` writes a registry list response for load tests; anything else runs BenchmarkDotNet.
if (args is ["generate-listings", var count, var file])
{
    await ListingGenerator.WriteAsync(int.Parse(count, System.Globalization.CultureInfo.InvariantCulture), file);
    return;
}

// `gateway-load [options]` measures the gateway against calling its upstream directly (see Load/GatewayLoadCommand.cs).
if (args is ["gateway-load", .. var gatewayLoadArgs])
{
    Environment.ExitCode = await UltraRepo.Benchmarks.Load.GatewayLoadCommand.RunAsync(gatewayLoadArgs);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(ListingGenerator).Assembly).Run(args);
