using BenchmarkDotNet.Running;
using UltraRepo.Benchmarks;

// `generate-listings N file` writes a registry list response for load tests; anything else runs BenchmarkDotNet.
if (args is ["generate-listings", var count, var file])
{
    await ListingGenerator.WriteAsync(int.Parse(count, System.Globalization.CultureInfo.InvariantCulture), file);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(ListingGenerator).Assembly).Run(args);
