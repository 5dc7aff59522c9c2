using System.Net;
using UltraRepo.Domain.Common;

namespace UltraRepo.Domain.Tests.Common;

public class NetworkAddressesTests
{
    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("64:ff9b::7f00:1")]
    [InlineData("2002:7f00:1::")]
    [InlineData("::127.0.0.1")]
    [InlineData("64:ff9b::a9fe:a9fe")]
    [InlineData("127.255.255.254")]
    [InlineData("10.0.0.1")]
    [InlineData("172.16.0.1")]
    [InlineData("172.31.255.255")]
    [InlineData("192.168.0.1")]
    [InlineData("169.254.169.254")]
    [InlineData("100.64.0.1")]
    [InlineData("100.127.255.255")]
    [InlineData("0.0.0.0")]
    [InlineData("255.255.255.255")]
    [InlineData("224.0.0.1")]
    [InlineData("198.18.0.1")]
    [InlineData("192.0.0.170")]
    [InlineData("::1")]
    [InlineData("::")]
    [InlineData("fe80::1")]
    [InlineData("fec0::1")]
    [InlineData("fc00::1")]
    [InlineData("fd00:ec2::254")]
    [InlineData("ff02::1")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("::ffff:10.1.2.3")]
    [InlineData("::ffff:169.254.169.254")]
    public void IsNonPublic_ReservedAddress_IsTrue(string address) => Assert.True(NetworkAddresses.IsNonPublic(IPAddress.Parse(address)));

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("1.1.1.1")]
    [InlineData("172.15.255.255")]
    [InlineData("172.32.0.1")]
    [InlineData("100.63.255.255")]
    [InlineData("100.128.0.1")]
    [InlineData("169.255.0.1")]
    [InlineData("192.169.0.1")]
    [InlineData("223.255.255.255")]
    [InlineData("2606:4700::1111")]
    [InlineData("2001:4860:4860::8888")]
    [InlineData("64:ff9b::808:808")]
    [InlineData("2002:808:808::1")]
    [InlineData("::ffff:8.8.8.8")]
    public void IsNonPublic_PublicAddress_IsFalse(string address) => Assert.False(NetworkAddresses.IsNonPublic(IPAddress.Parse(address)));

    [Theory]
    [InlineData("localhost", true)]
    [InlineData("LOCALHOST", true)]
    [InlineData("localhost.", true)]
    [InlineData("foo.localhost", true)]
    [InlineData("a.b.Localhost", true)]
    [InlineData("[::1]", true)]
    [InlineData("[::ffff:127.0.0.1]", true)]
    [InlineData("127.0.0.1", true)]
    [InlineData("192.168.1.1", true)]
    [InlineData("example.com", false)]
    [InlineData("localhost.example.com", false)]
    [InlineData("mylocalhost", false)]
    [InlineData("8.8.8.8", false)]
    [InlineData("[2606:4700::1111]", false)]
    public void IsNonPublicHost_ClassifiesNamesAndLiterals(string host, bool expected) =>
        Assert.Equal(expected, NetworkAddresses.IsNonPublicHost(host));
}
