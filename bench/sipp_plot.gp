# bench/sipp_plot.gp -- plots of bench/sipp_bench.py, run by it:
#   gnuplot -e "dir='RESULTS'; part='register'; tr='udp'" bench/sipp_plot.gp
# reads RESULTS/sipp-PART-TR-{epsip,kamailio}.dat (offered/s goodput/s
# p99_ms fail_pct p50_ms) and writes RESULTS/sipp-PART-TR.png: goodput vs
# offered rate (top) and p99 vs offered rate (bottom, log scale; a p99 of
# 0 ms, under one tick of sipp's millisecond clock, is drawn at 0.5 ms),
# both systems.
if (!exists("dir")) dir = "."
if (!exists("part")) part = "register"
if (!exists("tr")) tr = "udp"
what = (part eq "calls") ? "calls/s (INVITE-200-ACK-BYE)" : "REGISTER/s"
lat = (part eq "calls") ? "setup p99 (INVITE->200), ms" : "p99 REGISTER->200, ms"
hold = (part eq "calls") ? 50 : 200
f(s) = sprintf("%s/sipp-%s-%s-%s.dat", dir, part, tr, s)
set terminal pngcairo size 1000,900 font ",11"
set output sprintf("%s/sipp-%s-%s.png", dir, part, tr)
set multiplot layout 2,1 title sprintf("%s over %s: EPSIP vs Kamailio 5.6 edge+registrar (sipp)", what, tr)
set grid
set key top left
set xlabel sprintf("offered %s", what)
set ylabel ((part eq "calls") ? "goodput, completed calls/s" : "goodput, 200 OK/s")
set yrange [0:*]
set xrange [0:*]
plot x title "offered" with lines dashtype 2 lc rgb "gray", \
     f("epsip") using 1:2 title "EPSIP" with linespoints lw 2 pt 7 lc rgb "#1f77b4", \
     f("kamailio") using 1:2 title "Kamailio edge+registrar" with linespoints lw 2 pt 5 lc rgb "#d62728"
set ylabel lat
set logscale y
set yrange [*:*]
plot f("epsip") using 1:($3 > 0 ? $3 : 0.5) title "EPSIP" with linespoints lw 2 pt 7 lc rgb "#1f77b4", \
     f("kamailio") using 1:($3 > 0 ? $3 : 0.5) title "Kamailio edge+registrar" with linespoints lw 2 pt 5 lc rgb "#d62728", \
     hold title (part eq "calls" ? "50 ms (target)" : "200 ms (holds)") with lines dashtype 2 lc rgb "gray"
unset multiplot
