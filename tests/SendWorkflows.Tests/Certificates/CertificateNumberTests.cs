using SendWorkflows.Certificates;

namespace SendWorkflows.Tests.Certificates;

public sealed class CertificateNumberTests
{
    private const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    [Fact]
    public void new_numbers_are_twelve_unambiguous_characters_in_three_groups_and_check_out()
    {
        for (var i = 0; i < 1000; i++)
        {
            var number = CertificateNumber.New();
            Assert.Matches("^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$", number);
            Assert.Equal(number, CertificateNumber.Normalise(number));
        }
    }

    [Fact]
    public void any_single_mistyped_character_is_rejected()
    {
        var number = CertificateNumber.New().Replace("-", "", StringComparison.Ordinal);
        for (var position = 0; position < number.Length; position++)
        {
            foreach (var other in Alphabet.Where(c => c != number[position]))
            {
                var typo = number[..position] + other + number[(position + 1)..];
                Assert.Null(CertificateNumber.Normalise(typo));
            }
        }
    }

    [Fact]
    public void most_swapped_neighbours_are_rejected()
    {
        int swaps = 0, caught = 0;
        for (var n = 0; n < 200; n++)
        {
            var number = CertificateNumber.New().Replace("-", "", StringComparison.Ordinal);
            for (var i = 0; i < number.Length - 1; i++)
            {
                if (number[i] == number[i + 1])
                {
                    continue;
                }

                swaps++;
                var swapped = number[..i] + number[i + 1] + number[i] + number[(i + 2)..];
                if (CertificateNumber.Normalise(swapped) is null)
                {
                    caught++;
                }
            }
        }

        Assert.True(caught > swaps * 0.9, $"{caught} of {swaps} swaps caught");
    }

    [Fact]
    public void a_number_typed_loosely_is_read_as_the_same_number()
    {
        var number = CertificateNumber.New();
        var loose = number.ToLowerInvariant().Replace("-", " ", StringComparison.Ordinal).Replace('0', 'o').Replace('1', 'l');
        Assert.Equal(number, CertificateNumber.Normalise(loose));
        Assert.Equal(number, CertificateNumber.Normalise(number.Replace("-", "", StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("ABCD-EFGH")]
    [InlineData("ABCD-EFGH-JKMN-P")]
    [InlineData("ABCD-EFGH-JKMU")]
    [InlineData("../../etc/passwd")]
    public void anything_else_is_not_a_number(string text) => Assert.Null(CertificateNumber.Normalise(text));
}
