#!/usr/bin/env python3
"""Writes src/services/auth/common-passwords.txt: passwords refused by the password policy.

No breach corpus is available offline here, so the list is written from well-known facts:
the entries that top every published "most common passwords" list, keyboard walks, and the
words people build passwords from (names, pets, sports, places, brands, words of love and
swearing), each also in the forms people derive from them that the policy's rules would not
catch by themselves. The policy (src/services/auth/policy.rs) adds rules on top: it also
refuses a listed entry with digits or symbols before or after it, l33t spellings of it,
sequences, repetitions, too few distinct characters, the email's local part and `vellum`.

Run from the repository root: python3 scripts/gen-common-passwords.py
"""

import pathlib

TOP = """
123456 password 12345678 qwerty 123456789 12345 1234 111111 1234567 dragon 123123
baseball abc123 football monkey letmein 696969 shadow master 666666 qwertyuiop 123321
mustang 1234567890 michael 654321 superman 1qaz2wsx 7777777 121212 000000 qazwsx
123qwe killer trustno1 jordan jennifer zxcvbnm asdfgh hunter buster soccer harley
batman andrew tigger sunshine iloveyou 2000 charlie robert thomas hockey ranger daniel
starwars klaster 112233 george computer michelle jessica pepper 1111 zxcvbn 555555
11111111 131313 freedom 777777 pass maggie 159753 aaaaaa ginger princess joshua
cheese amanda summer love ashley nicole chelsea biteme matthew access yankees 987654321
dallas austin thunder taylor matrix mobilemail mom monitor monitoring montana moon
moscow william corvette hello martin heather secret merlin diamond 1234qwer gfhjkm
hammer silver 222222 88888888 anthony justin test bailey q1w2e3r4t5 patrick internet
scooter orange 11111 golfer cookie richard samantha bigdog guitar jackson whatever
mickey chicken sparky snoopy maverick phoenix camaro peanut morgan welcome falcon
cowboy ferrari samsung andrea smokey steelers joseph mercedes dakota arsenal eagles
melissa boomer booboo spider nascar monster tigers yellow xxxxxx 123123123 gateway
marina diablo bulldog qwer1234 compaq purple hardcore banana junior hannah 123654
porsche lakers iceman money cowboys 987654 london tennis 999999 ncc1701 coffee scooby
0000 miller boston q1w2e3r4 fuckoff brandon yamaha chester mother forever johnny edward
333333 oliver redsox player nikita knight fender barney midnight please brandy chicago
badboy iwantu slayer rangers charles angel flower bigdaddy rabbit wizard bigdick jasper
enter rachel chris steven winner adidas victoria natasha 1q2w3e4r jasmine winter prince
panties marine ghbdtn fishing cocacola casper james 232323 raiders 888888 marlboro
gandalf asdfasdf crystal 87654321 12344321 golden 8675309 panther lauren angela bitch
spanky thx1138 angels madison winston shannon mike toyota blowjob jordan23 canada sophie
apples dick tiger razz 123abc pokemon qazxsw 55555 qwaszx muffin johnson murphy cooper
jonathan liverpoo david danielle 159357 jackie 1990 123456a 789456 turtle horny abcd1234
scorpion qazwsxedc 101010 butter carlos password1 dennis slipknot qwerty123 booger asdf
1991 black startrek 12341234 cameron newyork rainbow nathan john 1992 rocket viking
redskins butthead asdfghjkl 1212 sierra peaches gemini doctor wilson sandra helpme
qwertyui victor florida dolphin pookie captain tucker blue liverpool theman bandit
dolphins maddog packers jaguar lovers nicholas united tiffany maxwell zzzzzz nirvana
jeremy suckit stupid porn monica elephant giants jackass hotdog rosebud success debbie
mountain 444444 xxxxxxxx warrior 1q2w3e4r5t magic dragons password123 p@ssw0rd
passw0rd admin administrator root toor letmein123 welcome1 welcome123 qwerty1
iloveyou1 princess1 abc12345 zaq12wsx 1qazxsw2 qwe123 qweasd qweasdzxc 1q2w3e
q1w2e3 aa123456 a123456 123456789a 1234567a 1qaz2wsx3edc zaq1xsw2cde3 qazwsxedcrfv
1q2w3e4r5t6y q1w2e3r4t5y6 1qazxsw23edc qwertyuiop123 asdfghjkl123 zxcvbnm123
123qweasdzxc 1234qwerasdf qwerasdfzxcv qwertyqwerty passwordpassword iloveyouiloveyou
monkey123 dragon123 shadow123 master123 football1 baseball1 superman1 batman123
charlie1 sunshine1 trustno1 changeme changeit default guest user login system
secret123 test123 test1234 testing testtest demo sample example temp temp123 temporary
password12 password1234 password12345 password123456 passw0rd1 p@ssword p@55w0rd
pa55word pa55w0rd passwort motdepasse contrasena contraseña senha parola wachtwoord
salasana haslo heslo jelszo lozinka geslo sifre qwertz azerty qwertzuiop azertyuiop
abcdef abcdefg abcdefgh abcdefghi abcdefghij abcdefghijkl abc abcabc abcabcabc
letmeinnow openup opensesame beginner nopassword nopass mypassword yourpassword
thepassword passpass password! password1! password@123 admin123 admin1234 admin12345
administrator1 rootroot root123 superuser supervisor manager service support office
company business work computer1 internet1 windows linux ubuntu debian apple microsoft
google facebook twitter instagram youtube amazon netflix spotify linkedin yahoo hotmail
gmail outlook iphone android samsung1 nokia sony dell lenovo nintendo playstation xbox
xbox360 minecraft fortnite roblox pokemon1 zelda mario sonic halo warcraft starcraft
overwatch counterstrike callofduty battlefield skyrim darkness lightning hurricane
tornado thunder1 storm sunset sunrise rainbow1 starlight moonlight twilight midnight1
shadow1 phantom ghost vampire zombie dragon1 unicorn pegasus griffin wolf wolves
lion tiger1 eagle falcon1 hawk raven crow panda koala kitten kitty puppy doggie
doggy snowball fluffy princess12 angel1 angel123 babygirl baby baby123 babyboy sweetie
sweetheart honey honey123 darling lovely lovelove loveme loveyou love123 lover iloveu
ilovemymom ilovemydad ilovegod jesus jesus1 jesuschrist christ god godisgood blessed
faith hope grace heaven trinity church bible amen hallelujah lucky lucky7 lucky13
seven eleven thirteen 7777 1313 6969 4200 420420 blink182 metallica nirvana1 queen
beatles eminem tupac 50cent rihanna beyonce britney justinbieber onedirection bts
blackpink taylorswift ladygaga madonna elvis michaeljackson coldplay linkinpark
greenday acdc ironmaiden slipknot1 rammstein pinkfloyd ledzeppelin guns nroses
starwars1 darthvader skywalker yoda jedi harrypotter hogwarts gandalf1 frodo hobbit
matrix1 neo trinity1 spiderman batman1 superman123 ironman hulk thor avengers marvel
deadpool wolverine xmen joker harleyquinn pikachu naruto goku dragonball onepiece
simpsons homer bart futurama spongebob scoobydoo snoopy1 garfield mickeymouse
donaldduck disney cinderella barbie hellokitty teletubbies elmo
"""

NAMES = """
james john robert michael william david richard joseph thomas charles christopher daniel
matthew anthony mark donald steven paul andrew joshua kenneth kevin brian george timothy
ronald edward jason jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin
scott brandon benjamin samuel gregory alexander frank patrick raymond jack dennis jerry
tyler aaron jose adam nathan henry douglas zachary peter kyle ethan walter noah jeremy
christian keith roger terry gerald harold sean austin carl arthur lawrence dylan jesse
jordan bryan billy joe bruce gabriel logan albert willie alan juan wayne elijah randy
roy vincent ralph eugene russell bobby mason philip louis mary patricia jennifer linda
elizabeth barbara susan jessica sarah karen lisa nancy betty margaret sandra ashley
kimberly emily donna michelle carol amanda dorothy melissa deborah stephanie rebecca
sharon laura cynthia kathleen amy angela shirley anna brenda pamela emma nicole helen
samantha katherine christine debra rachel carolyn janet catherine maria heather diane
ruth julie olivia joyce virginia victoria kelly lauren christina joan evelyn judith
megan andrea cheryl hannah jacqueline martha gloria teresa ann sara madison frances
kathryn janice jean abigail alice judy sophia grace denise amber doris marilyn danielle
beverly isabella theresa diana natalie brittany charlotte marie kayla alexis lori
alex sam max charlie oliver harry jake luke leo oscar archie freddie alfie theo lucas
mia ava chloe ella lily zoe ruby evie isla poppy millie daisy rosie molly holly
jasmine summer autumn april may june july august angel destiny faith trinity
sebastian nikolai dmitri ivan sergey andrei natasha olga svetlana tatiana irina
mohammed ahmed ali fatima omar hassan hussein yusuf ibrahim aisha priya rahul amit
raj sanjay anjali pooja neha rohit vikram arjun krishna ganesh shiva lakshmi
wei li zhang wang chen liu yang huang zhao kim lee park choi jung kang
giuseppe giovanni francesco marco luca alessandro matteo andrea paolo stefano
pierre jean michel philippe nicolas francois antoine sophie camille manon chloe
hans peter klaus jurgen wolfgang stefan thomas andreas michael sabine petra ursula
carlos jose luis miguel juan antonio manuel francisco javier pedro alejandro diego
"""

WORDS = """
love hello welcome secret freedom dragon monkey shadow master sunshine princess
football baseball soccer hockey basketball tennis golf cricket rugby volleyball
summer winter spring autumn flower garden forest ocean river mountain island beach
music guitar piano drums singer dancer dance party happy smile friend friends family
mother father sister brother daughter son wife husband girlfriend boyfriend
chocolate cookie candy sugar honey cherry banana apple orange lemon peach strawberry
pizza burger pasta coffee tea beer whiskey vodka tequila wine
money cash dollar gold silver diamond platinum rich million billion
black white red blue green yellow purple pink orange brown grey gray
america usa canada mexico brazil england london paris berlin moscow tokyo china india
australia germany france italy spain russia japan korea africa europe asia
newyork chicago losangeles boston dallas houston miami seattle texas california florida
liverpool chelsea arsenal manchester barcelona madrid juventus milan bayern
lakers yankees cowboys steelers patriots packers raiders eagles giants bears
ferrari porsche mercedes bmw audi toyota honda nissan ford chevy mustang corvette
harley yamaha ducati kawasaki suzuki
killer hunter warrior soldier ninja samurai pirate viking knight king queen prince
princess angel devil demon satan hell heaven god jesus lord
computer internet network server system admin password login access security
welcome letmein trustme trustno iloveyou loveyou missyou kissme hugme fuckyou
fuck shit damn bitch asshole bastard pussy dick cock sex sexy hot horny
cool awesome super great best number one first winner champion legend hero
star rock stone fire water earth wind air ice snow rain cloud sky sun moon
cat dog bird fish horse pony tiger lion bear wolf fox eagle shark dolphin whale snake
spider monkey rabbit bunny turtle frog duck chicken pig cow sheep goat mouse
qwerty asdfgh zxcvbn azerty qwertz dvorak keyboard mouse monitor laptop phone
"""

# Keyboard walks, alone and as people extend them.
WALKS = """
qwertyuiop asdfghjkl zxcvbnm qwertyuiopasdfghjkl qwertyuiopasdfghjklzxcvbnm
1qaz2wsx3edc4rfv 1qaz2wsx3edc4rfv5tgb zaq12wsxcde34rfv qazwsxedcrfvtgb qazwsxedcrfvtgbyhn
1q2w3e4r5t6y7u8i 1q2w3e4r5t6y7u8i9o0p q1w2e3r4t5y6u7i8 q1w2e3r4t5y6u7i8o9p0
qweasdzxc123 zxcasdqwe123 poiuytrewq lkjhgfdsa mnbvcxz mnbvcxzlkjhgfdsa
1234qwerasdfzxcv qwer1234asdf 4321rewq asdf1234 zxcv1234 1234zxcv 1234asdf
azertyuiop qsdfghjklm wxcvbn qwertzuiop yxcvbnm !qaz2wsx !qaz@wsx 1qaz!qaz
qwerty12345 qwerty123456 qwerty1234567 qwertyuiop12 qwertyuiop1234 asdfghjkl1234
zxcvbnm12345 zxcvbnm123456 123456qwerty 123qwe123qwe qwe123qwe123 asd123asd123
"""

# Forms people derive that the rules (which trim digits and symbols off the ends and
# read l33t) would not reduce to a listed word: words joined to each other.
JOINED_PREFIXES = ["my", "the", "ilove", "iloveyou", "super", "big"]
JOINED_SUFFIXES = ["man", "boy", "girl", "baby", "love", "king", "abc123", "123abc",
                   "forever", "4ever", "rules", "password"]


def words(block):
    return [w for w in block.split() if w]


def main():
    base = []
    for block in (TOP, NAMES, WORDS, WALKS):
        base.extend(w.lower() for w in words(block))
    seen = set()
    out = []

    def add(w):
        if w and w not in seen:
            seen.add(w)
            out.append(w)

    for w in base:
        add(w)
    # Joined forms of the most used words, the ones long enough to pass a length check.
    roots = [w for w in words(TOP) if w.isalpha() and 4 <= len(w) <= 10]
    roots = list(dict.fromkeys(roots))[:180]
    for r in roots:
        for p in JOINED_PREFIXES:
            add(p + r)
        for s in JOINED_SUFFIXES:
            add(r + s)
    path = pathlib.Path("src/services/auth/common-passwords.txt")
    header = ("# Refused passwords, one per line, lower case (scripts/gen-common-passwords.py"
              " writes this file).\n")
    path.write_text(header + "\n".join(out) + "\n", encoding="utf-8")
    print(f"{len(out)} entries written to {path}")


if __name__ == "__main__":
    main()
